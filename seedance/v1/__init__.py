"""Import aliases for the generated protobuf modules under their proto package's name.

protobuf names a message class's module after the .proto path ("seedance.v1.stages_pb2"), and
pickle (Ray Serve's gRPC proxy pickles requests on their way to a replica) imports that name.
The stubs themselves live in seedance.protos.seedance.v1; these modules only re-export them.
"""
