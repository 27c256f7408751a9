from ipaddress import IPv4Address, IPv4Network

from labkit.link.ethernet import EthernetFrame
from labkit.net.arp import ARPPacket
from labkit.net.icmp import ICMPMessage
from labkit.net.ipv4 import IPv4Packet

ETH_IPV4, ETH_ARP = 0x0800, 0x0806
BROADCAST = "ff:ff:ff:ff:ff:ff"
S = 10**9

class Router:
    """An IPv4 router: longest-prefix match, TTL, ICMP errors, and ARP with a pending queue."""

    def __init__(self, interfaces, clock, *, arp_timeout_ns=60 * S, arp_retry_ns=1 * S, arp_tries=3):
        self.interfaces = {i.name: i for i in interfaces}
        self.clock = clock
        self.arp_timeout_ns, self.arp_retry_ns, self.arp_tries = arp_timeout_ns, arp_retry_ns, arp_tries
        self.routes = []        # (network, next hop or None, interface name)
        for i in interfaces:
            if i.ip is not None:
                self.routes.append((i.ip.network, None, i.name))
        self.arp = {}           # IP -> (MAC, learned at ns)
        self.pending = {}       # next-hop IP -> {"iface", "packets", "tries"}

    def add_route(self, prefix, next_hop, interface):
        self.routes.append((IPv4Network(prefix), None if next_hop is None else IPv4Address(next_hop),
                            interface))

    def lookup(self, dst):
        """The most specific route to ``dst`` (longest prefix), or None."""
        best = None
        for net, hop, iface in self.routes:
            if dst in net and (best is None or net.prefixlen > best[0].prefixlen):
                best = (net, hop, iface)
        return best

    def receive(self, iface, frame, now):
        try:
            eth = EthernetFrame.parse(frame, fcs=False)
        except Exception:
            return
        mine = (eth.dst.packed == iface.mac or str(eth.dst) == BROADCAST)
        if not mine:
            return
        if eth.ethertype == ETH_ARP:
            self.on_arp(iface, ARPPacket.parse(eth.payload), now)
        elif eth.ethertype == ETH_IPV4:
            try:
                packet = IPv4Packet.parse(eth.payload)   # checks the header checksum
            except Exception:
                return
            self.on_ip(iface, packet, now)

    # -- ARP -------------------------------------------------------------------------------
    def on_arp(self, iface, arp, now):
        if iface.ip is None:
            return
        self.arp[arp.sender_ip] = (arp.sender_mac, now)
        if arp.operation == 1 and arp.target_ip == iface.ip.ip:
            reply = ARPPacket.reply(iface.mac, iface.ip.ip, arp.sender_mac, arp.sender_ip)
            self.send_frame(iface, arp.sender_mac, ETH_ARP, reply.pack())
        waiting = self.pending.pop(arp.sender_ip, None)
        if waiting is not None:
            waiting["timer"].cancel()
            for packet, _came_in in waiting["packets"]:
                self.send_frame(waiting["iface"], arp.sender_mac, ETH_IPV4, packet.pack())

    def send_frame(self, iface, dst_mac, ethertype, payload):
        iface.send(EthernetFrame(dst_mac, iface.mac, ethertype, payload).pack(fcs=False))

    def send_ip(self, packet, hop, iface, came_in=None):
        now = self.clock.now()
        entry = self.arp.get(hop)
        if entry is not None and now - entry[1] < self.arp_timeout_ns:
            self.send_frame(iface, entry[0], ETH_IPV4, packet.pack())
            return
        if hop in self.pending:
            self.pending[hop]["packets"].append((packet, came_in))
            return
        self.pending[hop] = {"iface": iface, "packets": [(packet, came_in)], "tries": 0, "timer": None}
        self.ask(hop)

    def ask(self, hop):
        waiting = self.pending.get(hop)
        if waiting is None:
            return
        iface = waiting["iface"]
        if waiting["tries"] >= self.arp_tries:
            del self.pending[hop]
            for packet, came_in in waiting["packets"]:
                if came_in is not None:  # not about my own packets
                    self.icmp_error(ICMPMessage.unreachable(1, packet), packet, came_in)
            return
        waiting["tries"] += 1
        request = ARPPacket.request(iface.mac, iface.ip.ip, hop)
        self.send_frame(iface, BROADCAST, ETH_ARP, request.pack())
        waiting["timer"] = self.clock.call_at(self.clock.now() + self.arp_retry_ns, self.ask, hop)

    # -- IP --------------------------------------------------------------------------------
    def on_ip(self, iface, packet, now):
        if any(i.ip is not None and packet.dst == i.ip.ip for i in self.interfaces.values()):
            if packet.protocol == 1:
                msg = ICMPMessage.parse(packet.payload)
                if msg.type == 8:
                    self.route_out(IPv4Packet(src=packet.dst, dst=packet.src, protocol=1,
                                              payload=msg.reply().pack()))
            return
        route = self.lookup(packet.dst)
        if route is None:
            self.icmp_error(ICMPMessage.unreachable(0, packet), packet, iface)
            return
        if packet.ttl <= 1:
            self.icmp_error(ICMPMessage.time_exceeded(packet), packet, iface)
            return
        net, hop, out = route
        self.send_ip(packet.replace(ttl=packet.ttl - 1), hop or packet.dst, self.interfaces[out], iface)

    def route_out(self, packet):
        route = self.lookup(packet.dst)
        if route is not None:
            net, hop, out = route
            self.send_ip(packet, hop or packet.dst, self.interfaces[out])

    def icmp_error(self, message, about, iface):
        if about.protocol == 1 and about.payload[:1] in (b"\x03", b"\x0b"):
            return  # never an error about an error
        self.route_out(IPv4Packet(src=iface.ip.ip, dst=about.src, protocol=1, payload=message.pack()))
