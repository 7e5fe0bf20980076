"""The gRPC contract KEDA speaks to external scalers (`externalscaler.proto`) and its code generator.

The Python code is generated at build time into `scaler.grpc.gen` (not committed): run
`scripts/gen-proto`, or build the package (setup.py runs the same generator).
"""
