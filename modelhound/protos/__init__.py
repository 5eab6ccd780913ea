"""Protocol-buffer schemas of formats that ship no usable Python bindings.

Each schema is declared as data (message name -> fields) and turned into message classes
at first use with protobuf's descriptor pool, so no generated ``_pb2`` code and no protoc
is needed, and the classes work with every protobuf runtime (upb included).
"""
