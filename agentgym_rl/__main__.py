import sys

from agentgym_rl.cli import main

sys.exit(main())
