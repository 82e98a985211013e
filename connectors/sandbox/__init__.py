"""A local tracker speaking the Jira and GitHub APIs Pilot Gate uses, with webhooks, faults and call counts."""

from connectors.sandbox.client import SandboxClient, SandboxError
from connectors.sandbox.server import Sandbox, SandboxState, create_app

__all__ = ["Sandbox", "SandboxClient", "SandboxError", "SandboxState", "create_app"]
