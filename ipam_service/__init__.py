"""flatnet's central IPAM service: pools, node blocks and the ownership ledger."""
