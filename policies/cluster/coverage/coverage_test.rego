package cluster.coverage_test

import data.cluster.coverage

# Table-driven tests (layout: see containers_test.rego).

web := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "carbon"},
	"spec": {"template": {"metadata": {"labels": {"app": "web", "tier": "api"}}, "spec": {"containers": []}}},
}

redis := {
	"apiVersion": "apps/v1",
	"kind": "StatefulSet",
	"metadata": {"name": "redis", "namespace": "carbon"},
	"spec": {"template": {"metadata": {"labels": {"app": "redis"}}, "spec": {"containers": []}}},
}

netpol(selector) := {
	"kind": "NetworkPolicy",
	"metadata": {"name": "np", "namespace": "carbon"},
	"spec": {"podSelector": selector, "policyTypes": ["Ingress"]},
}

pdb(selector) := {
	"kind": "PodDisruptionBudget",
	"metadata": {"name": "pdb", "namespace": "carbon"},
	"spec": {"maxUnavailable": 1, "selector": selector},
}

web_selector := {"matchLabels": {"app": "web"}}

no_netpol := `Deployment/web: no NetworkPolicy selects its pods`

no_pdb := `Deployment/web: no PodDisruptionBudget selects its pods`

cases := {
	"covered": {"manifests": [web, netpol(web_selector), pdb(web_selector)], "want": set()},
	"no network policy": {"manifests": [web, pdb(web_selector)], "want": {no_netpol}},
	"no pdb": {"manifests": [web, netpol(web_selector)], "want": {no_pdb}},
	"nothing": {
		"manifests": [web, redis],
		"want": {
			no_netpol, no_pdb,
			`StatefulSet/redis: no NetworkPolicy selects its pods`,
			`StatefulSet/redis: no PodDisruptionBudget selects its pods`,
		},
	},
	"selectors of another workload": {
		"manifests": [web, netpol({"matchLabels": {"app": "redis"}}), pdb({"matchLabels": {"app": "redis"}})],
		"want": {no_netpol, no_pdb},
	},
	"other namespace": {
		"manifests": [
			web,
			json.patch(netpol(web_selector), [{"op": "replace", "path": "/metadata/namespace", "value": "other"}]),
			pdb(web_selector),
		],
		"want": {no_netpol},
	},
	"empty selector selects every pod": {"manifests": [web, netpol({}), pdb({})], "want": set()},
	"pdb without selector selects nothing": {
		"manifests": [web, netpol(web_selector), object.remove(pdb(web_selector), ["spec"])],
		"want": {no_pdb},
	},
	"match expressions": {
		"manifests": [
			web,
			netpol({"matchExpressions": [
				{"key": "app", "operator": "In", "values": ["web", "api"]},
				{"key": "tier", "operator": "Exists"},
			]}),
			pdb({"matchExpressions": [
				{"key": "app", "operator": "NotIn", "values": ["redis"]},
				{"key": "canary", "operator": "DoesNotExist"},
			]}),
		],
		"want": set(),
	},
	"failing match expression": {
		"manifests": [
			web,
			netpol({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
			pdb({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
		],
		"want": {no_netpol, no_pdb},
	},
	"statefulset covered": {
		"manifests": [redis, netpol({"matchLabels": {"app": "redis"}}), pdb({"matchLabels": {"app": "redis"}})],
		"want": set(),
	},
	"pods and jobs need no coverage": {
		"manifests": [
			{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}},
			{"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": []}}}},
		],
		"want": set(),
	},
}

test_covered if {
	tc := cases.covered
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_no_network_policy if {
	tc := cases["no network policy"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_no_pdb if {
	tc := cases["no pdb"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_nothing if {
	tc := cases.nothing
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_selectors_of_another_workload if {
	tc := cases["selectors of another workload"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_other_namespace if {
	tc := cases["other namespace"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_empty_selector_selects_every_pod if {
	tc := cases["empty selector selects every pod"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_pdb_without_selector_selects_nothing if {
	tc := cases["pdb without selector selects nothing"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_match_expressions if {
	tc := cases["match expressions"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_failing_match_expression if {
	tc := cases["failing match expression"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_statefulset_covered if {
	tc := cases["statefulset covered"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

test_pods_and_jobs_need_no_coverage if {
	tc := cases["pods and jobs need no coverage"]
	coverage.deny == tc.want with input as {"manifests": tc.manifests}
}

# Every case of the table has a test rule above.
test_table_size if count(cases) == 12
