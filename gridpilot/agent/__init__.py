"""The device agent: the daemon on each battery's Raspberry Pi.

Imports only gridpilot.protocol and light libraries (an import contract and a test keep
it so), so `pip install gridpilot[agent]` fits a Pi. Public surface: Agent, AgentConfig,
load_config; everything prefixed with an underscore is private.
"""

from gridpilot.agent.agent import Agent
from gridpilot.agent.config import AgentConfig, ConfigError, load_config

__all__ = ["Agent", "AgentConfig", "ConfigError", "load_config"]
