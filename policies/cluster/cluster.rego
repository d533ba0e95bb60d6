# METADATA
# title: Cluster policies
# description: |
#   Union of every cluster policy. Evaluate with
#   opa eval -d policies/cluster -i <input.json> 'data.cluster.deny'
#   where the input is {"manifests": [<every rendered object>]}.
package cluster

# METADATA
# title: All violations
# entrypoint: true
deny := data.cluster.containers.deny | data.cluster.coverage.deny
