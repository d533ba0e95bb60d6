package cluster_test

import data.cluster

test_deny_is_the_union_of_every_policy if {
	bad := {
		"kind": "Deployment",
		"metadata": {"name": "web"},
		"spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
			"name": "app",
			"image": "web:latest",
			"resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
			"livenessProbe": {"grpc": {"port": 1}},
			"readinessProbe": {"grpc": {"port": 1}},
			"securityContext": {
				"runAsNonRoot": true, "readOnlyRootFilesystem": true,
				"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
			},
		}]}}},
	}
	cluster.deny == {
		`Deployment/web: container "app" image "web:latest" uses the mutable tag latest`,
		`Deployment/web: no NetworkPolicy selects its pods`,
		`Deployment/web: no PodDisruptionBudget selects its pods`,
	} with input as {"manifests": [bad]}
}

test_empty_input_is_allowed if {
	cluster.deny == set() with input as {"manifests": []}
}
