"""``python -m fabric_controller``: serve with settings from the environment."""

from fabric_controller.config import ControllerSettings
from fabric_controller.main import serve

serve(ControllerSettings())
