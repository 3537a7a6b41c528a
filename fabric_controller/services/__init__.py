"""Services: topology and policy rules, ASN allocation, node peering and ToR config."""
