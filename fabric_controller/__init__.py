"""The network team's control plane: topology, BGP policy, ToR config and route drift."""
