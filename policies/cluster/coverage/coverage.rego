# METADATA
# title: NetworkPolicy and PodDisruptionBudget coverage
# description: |
#   Every Deployment and StatefulSet must have its pods selected by at least
#   one NetworkPolicy (podSelector) and at least one PodDisruptionBudget
#   (selector) of the same namespace.
package cluster.coverage

import data.cluster.lib

controllers contains obj if {
	some obj in lib.manifests
	obj.kind in {"Deployment", "StatefulSet"}
}

# METADATA
# title: Uncovered controllers
# description: Set of human-readable violation messages.
# entrypoint: true
deny contains msg if {
	some obj in controllers
	not selected_by(obj, "NetworkPolicy", ["spec", "podSelector"])
	msg := sprintf("%s: no NetworkPolicy selects its pods", [lib.name(obj)])
}

deny contains msg if {
	some obj in controllers
	not selected_by(obj, "PodDisruptionBudget", ["spec", "selector"])
	msg := sprintf("%s: no PodDisruptionBudget selects its pods", [lib.name(obj)])
}

selected_by(obj, kind, selector_path) if {
	some other in lib.manifests
	other.kind == kind
	lib.namespace(other) == lib.namespace(obj)
	lib.matches_selector(object.get(other, selector_path, null), lib.pod_labels(obj))
}
