"""``python -m ipam_service``: serve with settings from the environment."""

from ipam_service.config import IpamSettings
from ipam_service.main import serve

serve(IpamSettings())
