"""The verifier node: a package of parts with one responsibility each (see runtime.py)."""

from oracle.node.api_server import api_url_of
from oracle.node.runtime import VerifierNode, start_node

__all__ = ["VerifierNode", "api_url_of", "start_node"]
