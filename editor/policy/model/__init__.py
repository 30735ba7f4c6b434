"""The as-written policy model (objects.py) and its reader (read.py); see docs/architecture.md."""

from .objects import IPBlock, Part, Path, Peer, Policy, Port, PortRule, Problem, Rule, Selector, Spec
from .read import read_policy

__all__ = ["IPBlock", "Part", "Path", "Peer", "Policy", "Port", "PortRule", "Problem", "Rule", "Selector", "Spec"]
__all__ += ["read_policy"]
