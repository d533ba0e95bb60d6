# METADATA
# title: Cluster policy helpers
# description: |
#   Shared helpers of the cluster policies: the rendered manifests of the
#   input, the pod specs of workload objects, and Kubernetes label-selector
#   matching. Input: {"manifests": [<every rendered object>]}.
package cluster.lib

# Every rendered object (null documents removed).
manifests := [m | some m in object.get(input, "manifests", []); is_object(m)]

# Kinds whose pods are described by spec.template.
template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

# Long-running controllers: their containers need liveness/readiness probes.
controller_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

# pod_spec(obj) is the PodSpec of a workload object (undefined for other kinds).
pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.spec.template.spec if obj.kind in template_kinds

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

# pod_labels(obj) are the labels its pods get.
pod_labels(obj) := object.get(obj, ["metadata", "labels"], {}) if obj.kind == "Pod"

pod_labels(obj) := object.get(obj, ["spec", "template", "metadata", "labels"], {}) if obj.kind in template_kinds

pod_labels(obj) := object.get(obj, ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], {}) if {
	obj.kind == "CronJob"
}

# Objects that run pods.
workloads contains obj if {
	some obj in manifests
	pod_spec(obj)
}

# "Kind/name" used in every message.
name(obj) := sprintf("%s/%s", [obj.kind, object.get(obj, ["metadata", "name"], "<unnamed>")])

# Namespace ("" when the manifest does not set it).
namespace(obj) := object.get(obj, ["metadata", "namespace"], "")

# A `helm test` hook Pod (run to completion, no probes).
is_helm_test(obj) if {
	obj.kind == "Pod"
	some hook in split(obj.metadata.annotations["helm.sh/hook"], ",")
	trim_space(hook) in {"test", "test-success"}
}

# Long-running workloads: controllers and plain Pods that are not test hooks.
long_running(obj) if obj.kind in controller_kinds

long_running(obj) if {
	obj.kind == "Pod"
	not is_helm_test(obj)
}

# containers(obj) = regular containers plus native sidecars (init containers
# with restartPolicy Always: they run as long as the pod);
# all_containers(obj) = every container, init containers included.
containers(obj) := array.concat(
	object.get(pod_spec(obj), "containers", []),
	[c | some c in object.get(pod_spec(obj), "initContainers", []); c.restartPolicy == "Always"],
)

all_containers(obj) := array.concat(
	object.get(pod_spec(obj), "containers", []),
	object.get(pod_spec(obj), "initContainers", []),
)

# matches_selector(selector, labels): Kubernetes LabelSelector semantics
# (an empty selector matches every pod).
matches_selector(selector, labels) if {
	is_object(selector)
	every key, value in object.get(selector, "matchLabels", {}) {
		labels[key] == value
	}
	every expression in object.get(selector, "matchExpressions", []) {
		expression_matches(expression, labels)
	}
}

expression_matches(expression, labels) if {
	expression.operator == "In"
	labels[expression.key] in expression.values
}

expression_matches(expression, labels) if {
	expression.operator == "NotIn"

	# object.get: `not labels[key] in values` is undefined (not true) when the key is missing
	not object.get(labels, expression.key, null) in expression.values
}

expression_matches(expression, labels) if {
	expression.operator == "Exists"
	expression.key in object.keys(labels)
}

expression_matches(expression, labels) if {
	expression.operator == "DoesNotExist"
	not expression.key in object.keys(labels)
}
