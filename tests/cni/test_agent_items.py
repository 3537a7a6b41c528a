"""Checklist items that need a real node agent (or a real runtime): TODO table.

Everything here is deliberately *not* tested yet: a stub cannot show that an
address was allocated, a veth wired or a route removed, and a test that cannot
fail is worse than none. The lead wires these once the agent exists, reusing
``tests/cni/harness.py`` (``Plugin.run`` / ``run_chain``) against a real agent
socket in a throwaway netns. Items already covered without an agent (the
plugin-side half) are named in the last column.

Needs a working node agent
==========================

========  ==================================================  ======================================
Item      What to assert                                      Plugin-side half already tested in
========  ==================================================  ======================================
CNI-005   ADD at every version: out.cniVersion == request     test_results (shapes per version)
CNI-022   ADD with capabilities/args/cni.dev/* keys succeeds  test_config (reaches the agent)
CNI-024   config ``dns`` appears in a real ADD result         test_results, test_config
CNI-030   real ADD with PYTHONWARNINGS=always: one JSON doc   test_output (error path)
CNI-040   link, /32 address, routes exist in the netns;
          ping the link-local gateway
CNI-041   second ADD of the same (id, ifname) fails, first
          attachment intact
CNI-042   failure after allocation: no allocation, veth or    test_verbs (rollback DEL is sent)
          route remains; following DEL succeeds
CNI-043   ADD A and B for the same pod; DEL A leaves B
CNI-045   20 parallel ADDs -> 20 distinct IPs; 20 DELs
CNI-047   mtu 1400 on both veth ends                          test_config (mtu reaches the agent)
CNI-050   ADD -> DEL: no veth, no /32 route, no allocation
CNI-051   DEL x3 on a fresh id and after ADD: rc 0, no output test_verbs (code 3 -> success)
CNI-052   ADD; ip netns del; DEL -> rc 0, host side clean     test_verbs (netns passed verbatim)
CNI-053   DEL with no prevResult after a real ADD cleans up   test_verbs (DEL needs no prevResult)
CNI-055   DEL with ADD's stdin plus runtimeConfig cleans up   test_verbs
CNI-060   real ADD result validates against the 1.1.0 shape  test_results
CNI-061   same, 1.0.0                                         test_results
CNI-062   same, 0.3.0 / 0.3.1 / 0.4.0                         test_results
CNI-063   interfaces[ips[0].interface] is CNI_IFNAME/netns    test_results, test_verbs (verify)
CNI-064   sandbox verbatim for each CNI_NETNS form            test_results, test_environment
CNI-065   real MAC on the sandbox interface                   test_results, test_verbs (verify)
CNI-071   delete host route -> CHECK fails; restore -> ok     test_verbs (agent error passed on)
CNI-072   ADD then CHECK immediately succeeds
CNI-073   CHECK after ADD: rc 0, empty stdout                 test_verbs (env like ADD)
CNI-080   STATUS with agent up and ready: rc 0                test_verbs (50 / 51 paths)
CNI-082   STATUS creates no allocation, link or route         test_verbs (answers < 1 s)
CNI-102   ADD A, B; GC [A]: B released, A intact              test_verbs (valid set sent)
CNI-105   ADD on a and b; GC a with []: b intact              test_verbs (scoped request)
CNI-110   ADD, ADD (same tuple), DEL
CNI-111   DEL without ADD; DEL, DEL
CNI-112   failed ADD, then DEL without prevResult
CNI-113   ADD, netns removed, DEL with old path / "" / file
CNI-114   ADD, CHECK immediately
CNI-115   ADD, GC(valid={this}), CHECK passes
CNI-116   ADD, GC(null), DEL succeeds
CNI-117   parallel ADD/DEL of distinct containers
CNI-118   eth0 and net1 in one container, independent
CNI-119   same pod, two sandbox ids overlapping
CNI-120   SIGKILL mid-ADD, then DEL cleans
CNI-125   ADD result passed through a chain (harness
          run_chain) with prevResult merged               test_results (merge)
CNI-130   each teardown step idempotent (agent side)
CNI-131   teardown with no netns and no prevResult
REF-01..  veth creation, addressing, DEL, CHECK, host
REF-07    conventions (agent's netlink adapter)
========  ==================================================  ======================================

Needs a real runtime (podman 4.3 / ctr run --cni / libcni >= 1.2)
=================================================================

CNI-003 (podman lists the network; the exact-match half is in test_versions),
CNI-004 (both conflist styles through libcni 1.1 and >= 1.2), CNI-023 (libcni
filters runtimeConfig by capability; the harness mimics it), CNI-074, CNI-104,
CNI-125 with Debian's portmap (cniVersion <= 1.0.0).

Not applicable
==============

CNI-068 (we are not a delegated IPAM), CNI-126 and CNI-103's delegate half (we do
not delegate: ``CNI_PATH`` is never used).
"""
