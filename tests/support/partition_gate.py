#!/usr/bin/env python3
"""A Kafka-protocol proxy for tickflow's tests that hides a topic's higher partitions.

    partition_gate.py LISTEN_PORT UPSTREAM_HOST:PORT CONTROL_FILE

Every request and response passes through unchanged, except Metadata responses (API key 3):
while CONTROL_FILE holds `TOPIC N`, partitions N and above of TOPIC are left out of them.
Writing a larger N (or emptying the file) makes the hidden partitions appear, as if they had
been added to the topic: how the tests add partitions to a topic on a broker (tansu 0.6) that
has no CreatePartitions. The broker must advertise this proxy's address, so that clients send
everything through it.

Prints `ready` once listening.
"""
import socket
import struct
import sys
import threading

METADATA = 3


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_frame(sock):
    (size,) = struct.unpack(">i", read_exact(sock, 4))
    return read_exact(sock, size)


class Reader:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def take(self, n):
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int8(self):
        return self.take(1)[0]

    def int16(self):
        return struct.unpack(">h", self.take(2))[0]

    def int32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.int8()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self, flexible):
        n = self.uvarint() - 1 if flexible else self.int16()
        if n > 0:
            self.take(n)
        return n

    def array_len(self, flexible):
        return self.uvarint() - 1 if flexible else self.int32()

    def tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def int32_array(self, flexible):
        for _ in range(max(self.array_len(flexible), 0)):
            self.int32()


def uvarint(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def gate(control):
    try:
        with open(control) as f:
            words = f.read().split()
        return (words[0], int(words[1])) if len(words) == 2 else None
    except OSError:
        return None


def filter_metadata(body, version, gated):
    """`body` is a Metadata response without its length; returns it with the gated topic's
    partitions at or above the limit left out."""
    flexible = version >= 9
    r = Reader(body)
    r.int32()  # correlation id
    if flexible:
        r.tagged_fields()
    if version >= 3:
        r.int32()  # throttle
    for _ in range(r.array_len(flexible)):  # brokers
        r.int32()
        r.string(flexible)
        r.int32()
        if version >= 1:
            r.string(flexible)  # rack
        if flexible:
            r.tagged_fields()
    if version >= 2:
        r.string(flexible)  # cluster id
    if version >= 1:
        r.int32()  # controller
    out = bytearray()
    copied = 0
    for _ in range(r.array_len(flexible)):  # topics
        r.int16()
        n = r.string(flexible)
        name = body[r.pos - max(n, 0) : r.pos].decode("utf-8", "replace")
        if version >= 10:
            r.take(16)  # topic id
        if version >= 1:
            r.int8()  # internal
        count_at = r.pos
        count = r.array_len(flexible)
        kept = []
        for _ in range(max(count, 0)):
            at = r.pos
            r.int16()
            index = r.int32()
            r.int32()  # leader
            if version >= 7:
                r.int32()  # leader epoch
            r.int32_array(flexible)  # replicas
            r.int32_array(flexible)  # isr
            if version >= 5:
                r.int32_array(flexible)  # offline
            if flexible:
                r.tagged_fields()
            if gated is None or name != gated[0] or index < gated[1]:
                kept.append(body[at : r.pos])
        if count > 0 and len(kept) < count:
            out += body[copied:count_at]
            out += uvarint(len(kept) + 1) if flexible else struct.pack(">i", len(kept))
            out += b"".join(kept)
            copied = r.pos
        if version >= 8:
            r.int32()  # topic authorized operations
        if flexible:
            r.tagged_fields()
    out += body[copied:]
    return bytes(out)


def pump_requests(client, server, pending):
    try:
        while True:
            frame = read_frame(client)
            key, version, correlation = struct.unpack(">hhi", frame[:8])
            pending[correlation] = (key, version)
            server.sendall(struct.pack(">i", len(frame)) + frame)
    except (EOFError, OSError):
        pass
    finally:
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def pump_responses(client, server, pending, control):
    try:
        while True:
            frame = read_frame(server)
            (correlation,) = struct.unpack(">i", frame[:4])
            key, version = pending.pop(correlation, (None, None))
            if key == METADATA:
                frame = filter_metadata(frame, version, gate(control))
            client.sendall(struct.pack(">i", len(frame)) + frame)
    except (EOFError, OSError):
        pass


def serve(port, upstream, control):
    host, up_port = upstream.rsplit(":", 1)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection((host, int(up_port)))
        except OSError:
            client.close()
            continue
        pending = {}
        threading.Thread(target=pump_requests, args=(client, server, pending), daemon=True).start()
        threading.Thread(
            target=pump_responses, args=(client, server, pending, control), daemon=True
        ).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
