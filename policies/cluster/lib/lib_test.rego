package cluster.lib_test

import data.cluster.lib

expr(key, operator, values) := {"matchExpressions": [{"key": key, "operator": operator, "values": values}]}

selector_cases := [
	{"selector": {}, "labels": {}, "want": true},
	{"selector": {}, "labels": {"a": "1"}, "want": true},
	{"selector": {"matchLabels": {"a": "1"}}, "labels": {"a": "1", "b": "2"}, "want": true},
	{"selector": {"matchLabels": {"a": "1"}}, "labels": {"a": "2"}, "want": false},
	{"selector": {"matchLabels": {"a": "1"}}, "labels": {}, "want": false},
	{"selector": expr("a", "In", ["1", "2"]), "labels": {"a": "2"}, "want": true},
	{"selector": expr("a", "In", ["1"]), "labels": {}, "want": false},
	{"selector": expr("a", "NotIn", ["1"]), "labels": {}, "want": true},
	{"selector": expr("a", "NotIn", ["1"]), "labels": {"a": "1"}, "want": false},
	{"selector": expr("a", "Exists", []), "labels": {"a": ""}, "want": true},
	{"selector": expr("a", "Exists", []), "labels": {}, "want": false},
	{"selector": expr("a", "DoesNotExist", []), "labels": {}, "want": true},
	{"selector": expr("a", "DoesNotExist", []), "labels": {"a": "1"}, "want": false},
	{"selector": expr("a", "Bogus", ["1"]), "labels": {"a": "1"}, "want": false},
	{"selector": null, "labels": {"a": "1"}, "want": false},
]

default matched(_, _) := false

matched(selector, labels) if lib.matches_selector(selector, labels)

# Indexes of the failing rows (shown by `opa test -v --var-values`).
test_matches_selector_table if {
	wrong := [i | some i, tc in selector_cases; matched(tc.selector, tc.labels) != tc.want]
	wrong == []
}

test_pod_spec_of_every_workload_kind if {
	spec := {"containers": [{"name": "c"}]}
	lib.pod_spec({"kind": "Pod", "spec": spec}) == spec
	lib.pod_spec({"kind": "Deployment", "spec": {"template": {"spec": spec}}}) == spec
	lib.pod_spec({"kind": "StatefulSet", "spec": {"template": {"spec": spec}}}) == spec
	lib.pod_spec({"kind": "DaemonSet", "spec": {"template": {"spec": spec}}}) == spec
	lib.pod_spec({"kind": "Job", "spec": {"template": {"spec": spec}}}) == spec
	lib.pod_spec({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}) == spec
	not lib.pod_spec({"kind": "Service", "spec": {}})
}

test_helm_test_hooks if {
	lib.is_helm_test({"kind": "Pod", "metadata": {"annotations": {"helm.sh/hook": "test"}}})
	lib.is_helm_test({"kind": "Pod", "metadata": {"annotations": {"helm.sh/hook": "post-install, test-success"}}})
	not lib.is_helm_test({"kind": "Pod", "metadata": {"annotations": {"helm.sh/hook": "pre-install"}}})
	not lib.is_helm_test({"kind": "Pod", "metadata": {}})
	not lib.is_helm_test({"kind": "Job", "metadata": {"annotations": {"helm.sh/hook": "test"}}})
}

test_manifests_drop_null_documents if {
	lib.manifests == [{"kind": "ConfigMap"}] with input as {"manifests": [null, {"kind": "ConfigMap"}, "x"]}
	lib.manifests == [] with input as {}
}
