package cluster.containers_test

import data.cluster.containers

# Table-driven tests: `cases` maps a case name to the manifests and the exact
# set of messages `deny` must produce; one test rule per case (named after it)
# evaluates it. Run `opa test -v --var-values` to see both sets on failure.

good := {
	"name": "app",
	"image": "registry.example.cn/carbon/consent:0.1.0",
	"resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
	"livenessProbe": {"grpc": {"port": 50051}},
	"readinessProbe": {"grpc": {"port": 50051}},
	"securityContext": {
		"runAsNonRoot": true,
		"readOnlyRootFilesystem": true,
		"allowPrivilegeEscalation": false,
		"capabilities": {"drop": ["ALL"]},
	},
}

no_probes := object.remove(good, ["livenessProbe", "readinessProbe"])

digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

deployment(spec) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "carbon"},
	"spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}},
}

deployment_of(container) := deployment({"containers": [container]})

pod(annotations, container) := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "p", "annotations": annotations},
	"spec": {"containers": [container]},
}

patched(path, value) := json.patch(good, [{"op": "replace", "path": path, "value": value}])

with_image(image) := patched("/image", image)

msg(text) := sprintf("Deployment/web: container \"app\" %s", [text])

cases := {
	"compliant": {"manifests": [deployment_of(good)], "want": set()},
	"ignores non-workloads": {
		"manifests": [{"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": "x:latest"}}, null],
		"want": set(),
	},
	"no cpu limit": {
		"manifests": [deployment_of(json.remove(good, ["resources/limits/cpu"]))],
		"want": {msg("has no resources.limits.cpu")},
	},
	"no resources": {
		"manifests": [deployment_of(object.remove(good, ["resources"]))],
		"want": {msg("has no resources.limits.cpu"), msg("has no resources.limits.memory")},
	},
	"zero memory limit": {
		"manifests": [deployment_of(patched("/resources/limits/memory", "0"))],
		"want": {msg("has no resources.limits.memory")},
	},
	"no liveness probe": {
		"manifests": [deployment_of(object.remove(good, ["livenessProbe"]))],
		"want": {msg("has no livenessProbe")},
	},
	"no readiness probe": {
		"manifests": [deployment_of(object.remove(good, ["readinessProbe"]))],
		"want": {msg("has no readinessProbe")},
	},
	"helm test pod needs no probes": {
		"manifests": [pod({"helm.sh/hook": "test"}, no_probes)],
		"want": set(),
	},
	"helm test-success pod needs no probes": {
		"manifests": [pod({"helm.sh/hook": "pre-install, test-success"}, no_probes)],
		"want": set(),
	},
	"helm test pod still needs limits": {
		"manifests": [pod({"helm.sh/hook": "test"}, object.remove(no_probes, ["resources"]))],
		"want": {
			`Pod/p: container "app" has no resources.limits.cpu`,
			`Pod/p: container "app" has no resources.limits.memory`,
		},
	},
	"plain pod needs probes": {
		"manifests": [pod({}, object.remove(good, ["livenessProbe"]))],
		"want": {`Pod/p: container "app" has no livenessProbe`},
	},
	"init container needs no probes but limits": {
		"manifests": [deployment({
			"containers": [json.patch(good, [{"op": "replace", "path": "/name", "value": "main"}])],
			"initContainers": [object.remove(no_probes, ["resources"])],
		})],
		"want": {msg("has no resources.limits.cpu"), msg("has no resources.limits.memory")},
	},
	"native sidecar needs probes": {
		"manifests": [deployment({
			"containers": [json.patch(good, [{"op": "replace", "path": "/name", "value": "main"}])],
			"initContainers": [object.union(object.remove(good, ["readinessProbe"]), {"restartPolicy": "Always"})],
		})],
		"want": {msg("has no readinessProbe")},
	},
	"job needs no probes": {
		"manifests": [{
			"kind": "Job", "metadata": {"name": "migrate"},
			"spec": {"template": {"spec": {"containers": [no_probes]}}},
		}],
		"want": set(),
	},
	"cronjob containers are checked": {
		"manifests": [{
			"kind": "CronJob", "metadata": {"name": "backup"},
			"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [with_image("redis:latest")]}}}}},
		}],
		"want": {`CronJob/backup: container "app" image "redis:latest" uses the mutable tag latest`},
	},
	"runAsNonRoot from the pod": {
		"manifests": [deployment({
			"securityContext": {"runAsNonRoot": true},
			"containers": [json.remove(good, ["securityContext/runAsNonRoot"])],
		})],
		"want": set(),
	},
	"container runAsNonRoot false overrides the pod": {
		"manifests": [deployment({
			"securityContext": {"runAsNonRoot": true},
			"containers": [patched("/securityContext/runAsNonRoot", false)],
		})],
		"want": {msg("must set securityContext.runAsNonRoot=true (container or pod)")},
	},
	"runAsNonRoot nowhere": {
		"manifests": [deployment_of(json.remove(good, ["securityContext/runAsNonRoot"]))],
		"want": {msg("must set securityContext.runAsNonRoot=true (container or pod)")},
	},
	"writable root filesystem": {
		"manifests": [deployment_of(json.remove(good, ["securityContext/readOnlyRootFilesystem"]))],
		"want": {msg("must set securityContext.readOnlyRootFilesystem=true")},
	},
	"privilege escalation": {
		"manifests": [deployment_of(patched("/securityContext/allowPrivilegeEscalation", true))],
		"want": {msg("must set securityContext.allowPrivilegeEscalation=false")},
	},
	"capabilities kept": {
		"manifests": [deployment_of(json.remove(good, ["securityContext/capabilities"]))],
		"want": {msg("must drop ALL capabilities")},
	},
	"latest tag": {
		"manifests": [deployment_of(with_image("registry.example.cn/carbon/consent:latest"))],
		"want": {msg(`image "registry.example.cn/carbon/consent:latest" uses the mutable tag latest`)},
	},
	"untagged image": {
		"manifests": [deployment_of(with_image("redis"))],
		"want": {msg(`image "redis" has no tag (pin a version or a digest)`)},
	},
	"registry port is not a tag": {
		"manifests": [deployment_of(with_image("registry:5000/carbon/consent"))],
		"want": {msg(`image "registry:5000/carbon/consent" has no tag (pin a version or a digest)`)},
	},
	"registry port with tag": {
		"manifests": [deployment_of(with_image("registry:5000/carbon/consent:1.2.3"))],
		"want": set(),
	},
	"digest pins any tag": {
		"manifests": [deployment_of(with_image(concat("@", ["redis:latest", digest])))],
		"want": set(),
	},
	"empty image": {
		"manifests": [deployment_of(with_image(""))],
		"want": {msg(`image "" is empty`)},
	},
	"statefulset is checked": {
		"manifests": [{
			"kind": "StatefulSet", "metadata": {"name": "redis"},
			"spec": {"template": {"spec": {"containers": [object.remove(good, ["readinessProbe"])]}}},
		}],
		"want": {`StatefulSet/redis: container "app" has no readinessProbe`},
	},
}

test_compliant if {
	tc := cases.compliant
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_ignores_non_workloads if {
	tc := cases["ignores non-workloads"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_no_cpu_limit if {
	tc := cases["no cpu limit"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_no_resources if {
	tc := cases["no resources"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_zero_memory_limit if {
	tc := cases["zero memory limit"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_no_liveness_probe if {
	tc := cases["no liveness probe"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_no_readiness_probe if {
	tc := cases["no readiness probe"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_helm_test_pod_needs_no_probes if {
	tc := cases["helm test pod needs no probes"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_helm_test_success_pod_needs_no_probes if {
	tc := cases["helm test-success pod needs no probes"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_helm_test_pod_still_needs_limits if {
	tc := cases["helm test pod still needs limits"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_plain_pod_needs_probes if {
	tc := cases["plain pod needs probes"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_init_container_needs_no_probes_but_limits if {
	tc := cases["init container needs no probes but limits"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_native_sidecar_needs_probes if {
	tc := cases["native sidecar needs probes"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_job_needs_no_probes if {
	tc := cases["job needs no probes"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_cronjob_containers_are_checked if {
	tc := cases["cronjob containers are checked"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_run_as_non_root_from_the_pod if {
	tc := cases["runAsNonRoot from the pod"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_container_run_as_non_root_false_overrides_the_pod if {
	tc := cases["container runAsNonRoot false overrides the pod"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_run_as_non_root_nowhere if {
	tc := cases["runAsNonRoot nowhere"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_writable_root_filesystem if {
	tc := cases["writable root filesystem"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_privilege_escalation if {
	tc := cases["privilege escalation"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_capabilities_kept if {
	tc := cases["capabilities kept"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_latest_tag if {
	tc := cases["latest tag"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_untagged_image if {
	tc := cases["untagged image"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_registry_port_is_not_a_tag if {
	tc := cases["registry port is not a tag"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_registry_port_with_tag if {
	tc := cases["registry port with tag"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_digest_pins_any_tag if {
	tc := cases["digest pins any tag"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_empty_image if {
	tc := cases["empty image"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

test_statefulset_is_checked if {
	tc := cases["statefulset is checked"]
	containers.deny == tc.want with input as {"manifests": tc.manifests}
}

# Every case of the table has a test rule above (28 cases, 28 rules).
test_table_size if count(cases) == 28
