"""The network layer: IPv4 addressing and packets, ARP, ICMP and routing."""
