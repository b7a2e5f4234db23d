#!/usr/bin/env python3
"""List dealdesk pipelines and their stage ids, using only gRPC server reflection.

Usage: list_pipelines.py [ADDR] [TOKEN]   (or set DEALDESK_ADDR / DEALDESK_TOKEN)
Needs: pip install grpcio grpcio-reflection   (no generated stubs)
"""
import os
import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "dealdesk.v1.PipelineService"
METHOD = "ListPipelines"

addr = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DEALDESK_ADDR", "127.0.0.1:50051")
token = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("DEALDESK_TOKEN")
if not token:
    sys.exit("usage: list_pipelines.py ADDR TOKEN (or set DEALDESK_ADDR / DEALDESK_TOKEN)")

with grpc.insecure_channel(addr) as channel:
    # The pool asks the server's reflection service for each file it needs (and its imports).
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    method = pool.FindServiceByName(SERVICE).FindMethodByName(METHOD)
    # Build Python message classes for the request and response types at run time.
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    # A generic unary call: we supply the path and the (de)serializers ourselves.
    call = channel.unary_unary(
        f"/{SERVICE}/{METHOD}",
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    try:
        response = call(request_cls(), metadata=[("authorization", f"Bearer {token}")])
    except grpc.RpcError as err:  # e.g. UNAUTHENTICATED for an unknown token
        sys.exit(f"{METHOD} failed: {err.code().name}: {err.details()}")

    # First page only (default page size 50 is plenty here; see next_page_token otherwise).
    for pipeline in response.pipelines:
        print(f"{pipeline.display_name}: {', '.join(s.stage_id for s in pipeline.stages)}")
