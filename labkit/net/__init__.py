"""The network layer: IPv4 addressing and packets, ARP, ICMP and routing.

- :mod:`~labkit.net.addressing`: classes A-E, masks in three notations, subnets, special
  addresses, the bit-by-bit view (on top of the standard library's ``ipaddress``);
- :mod:`~labkit.net.checksum`: the RFC 1071 Internet checksum;
- :mod:`~labkit.net.ipv4`: :class:`~labkit.net.ipv4.IPv4Packet`, fragmentation and reassembly;
- :mod:`~labkit.net.icmp`: echo, destination unreachable, time exceeded;
- :mod:`~labkit.net.arp`: ARP packets, the ARP cache, the resolver and the next-hop rule;
- :mod:`~labkit.net.routing`: the routing table and longest-prefix match;
- :mod:`~labkit.net.stack`: the IP stack of a host or router, on its interfaces and clock;
- :mod:`~labkit.net.summary`: one line about a frame, in tcpdump's style;
- :mod:`~labkit.net.exercises`: the check cells of notebooks 04 and 05.
"""
