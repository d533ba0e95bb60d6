# METADATA
# title: Container hardening
# description: |
#   Every container of every workload (Deployment, StatefulSet, DaemonSet,
#   ReplicaSet, Job, CronJob, Pod) must have CPU and memory limits, run as
#   non-root with a read-only root filesystem and no privilege escalation,
#   drop all capabilities and use a pinned image (no `latest`, no untagged
#   image). Containers of long-running workloads also need liveness and
#   readiness probes (helm test pods, Jobs and init containers are exempt).
package cluster.containers

import data.cluster.lib

# METADATA
# title: Denied containers
# description: Set of human-readable violation messages.
# entrypoint: true
deny contains msg if {
	some obj in lib.workloads
	some container in lib.all_containers(obj)
	some resource in ["cpu", "memory"]
	not has_limit(container, resource)
	msg := sprintf(
		"%s: container %q has no resources.limits.%s",
		[lib.name(obj), container.name, resource],
	)
}

deny contains msg if {
	some obj in lib.workloads
	lib.long_running(obj)
	some container in lib.containers(obj)
	some probe in ["livenessProbe", "readinessProbe"]
	not container[probe]
	msg := sprintf("%s: container %q has no %s", [lib.name(obj), container.name, probe])
}

deny contains msg if {
	some obj in lib.workloads
	some container in lib.all_containers(obj)
	not runs_as_non_root(obj, container)
	msg := sprintf(
		"%s: container %q must set securityContext.runAsNonRoot=true (container or pod)",
		[lib.name(obj), container.name],
	)
}

deny contains msg if {
	some obj in lib.workloads
	some container in lib.all_containers(obj)
	not container.securityContext.readOnlyRootFilesystem == true
	msg := sprintf(
		"%s: container %q must set securityContext.readOnlyRootFilesystem=true",
		[lib.name(obj), container.name],
	)
}

deny contains msg if {
	some obj in lib.workloads
	some container in lib.all_containers(obj)
	not container.securityContext.allowPrivilegeEscalation == false
	msg := sprintf(
		"%s: container %q must set securityContext.allowPrivilegeEscalation=false",
		[lib.name(obj), container.name],
	)
}

deny contains msg if {
	some obj in lib.workloads
	some container in lib.all_containers(obj)
	not "ALL" in object.get(container, ["securityContext", "capabilities", "drop"], [])
	msg := sprintf("%s: container %q must drop ALL capabilities", [lib.name(obj), container.name])
}

deny contains msg if {
	some obj in lib.workloads
	some container in lib.all_containers(obj)
	some problem in image_problems(object.get(container, "image", ""))
	msg := sprintf(
		"%s: container %q image %q %s",
		[lib.name(obj), container.name, object.get(container, "image", ""), problem],
	)
}

has_limit(container, resource) if {
	limit := container.resources.limits[resource]
	not limit in {"", 0, "0"}
}

# The container's own runAsNonRoot wins; otherwise the pod's applies.
runs_as_non_root(_, container) if container.securityContext.runAsNonRoot == true

runs_as_non_root(obj, container) if {
	not "runAsNonRoot" in object.keys(object.get(container, "securityContext", {}))
	lib.pod_spec(obj).securityContext.runAsNonRoot == true
}

# A digest (`@sha256:...`) pins an image whatever its tag.
image_problems("") := {"is empty"}

image_problems(image) := set() if contains(image, "@")

image_problems(image) := {"uses the mutable tag latest"} if {
	image != ""
	not contains(image, "@")
	tag(image) == "latest"
}

image_problems(image) := {"has no tag (pin a version or a digest)"} if {
	image != ""
	not contains(image, "@")
	not tag(image)
}

image_problems(image) := set() if {
	not contains(image, "@")
	not tag(image) == "latest"
	tag(image)
}

# Tag of an image reference: after the last ":" of the last path segment
# (a registry port such as registry:5000/repo is not a tag).
tag(image) := t if {
	segments := split(image, "/")
	last := segments[count(segments) - 1]
	contains(last, ":")
	parts := split(last, ":")
	t := parts[count(parts) - 1]
}
