"""The platform tiers: ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, `tier: Admin | Baseline`) and
AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1), read, validated and evaluated around NetworkPolicy.

One concept a module: `schema` (the shipped CRDs as JSON Schema plus their CEL rules in Python), `model` (one
model for both API versions), `parse` (objects to the model, errors naming file, line and field), `inputs`
(manifests split into the cluster, the platform policies and the Nodes), `tiers` (Admin, then NetworkPolicy, then
Baseline, then allow, with attribution), `middle` (the NetworkPolicy tier as the existing analysis answers it)
`probe` (`fenceline probe`), `connlist` (the connectivity list and its tier attribution through the tiers, as
np-guard/netpol-analyzer computes it), `emit` (policies written as ClusterNetworkPolicy v1alpha2, ANP/BANP v1alpha1
or CiliumClusterwideNetworkPolicy, with what a target cannot express) and `templates` (the platform team's four).

The drawing's platform layers (editor/policy/layers.py): `from_drawing` (admin/baseline edges grouped into policies
and compiled for the target), `to_drawing` (policies drawn as those layers: the importer and the templates),
`overrides` (application edges a platform rule decides against, for the canvas) and `layer_templates` (the four
templates added to a drawing).
"""
