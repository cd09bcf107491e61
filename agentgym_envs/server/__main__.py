"""``python -m agentgym_envs.server --env maze --port 36001``: see ``agentgym serve --help``."""

import sys

from agentgym_envs.server.app import main

sys.exit(main())
