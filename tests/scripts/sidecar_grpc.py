#!/usr/bin/env python3
"""Call the emulator's lattice.test.Greeter through the sidecar over h2c with grpcio.

Usage: sidecar_grpc.py HOST:PORT PROTO_DIR OUT_DIR
Generates the stubs from PROTO_DIR/greeter.proto into OUT_DIR with grpc_tools.protoc,
then makes a unary call (SayHello), a server-streaming call (StreamGreetings) and a
client-streaming call (CollectGreetings). Prints one JSON object with the results.
Exits 3 with an install hint if grpcio or grpcio-tools is missing.
"""
import importlib
import json
import os
import sys

try:
    import grpc
    from grpc_tools import protoc
except ImportError:
    print("python modules `grpcio`/`grpcio-tools` are missing: pip install requests grpcio grpcio-tools", file=sys.stderr)
    sys.exit(3)


def main(target, proto_dir, out_dir):
    status = protoc.main([
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        os.path.join(proto_dir, "greeter.proto"),
    ])
    if status != 0:
        print(f"protoc failed with {status}", file=sys.stderr)
        return 2
    sys.path.insert(0, out_dir)
    messages = importlib.import_module("greeter_pb2")
    services = importlib.import_module("greeter_pb2_grpc")

    # No proxy for grpc: it talks to the sidecar directly (h2c, prior knowledge).
    options = [("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(target, options=options) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = services.GreeterStub(channel)
        unary = stub.SayHello(messages.HelloRequest(name="unary"), timeout=10)
        streamed = [r.message for r in stub.StreamGreetings(messages.HelloRequest(name="stream"), timeout=10)]
        collected = stub.CollectGreetings(
            iter([messages.HelloRequest(name=n) for n in ("a", "b", "c")]), timeout=10
        )
    print(json.dumps({
        "unary": {"message": unary.message, "principal": unary.principal},
        "streamed": streamed,
        "collected": collected.message,
    }))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
