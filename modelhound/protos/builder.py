"""Build protobuf message classes from a compact, declarative schema table."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto

#: scalar type names accepted in a schema table
SCALARS: Mapping[str, int] = {
    "double": F.TYPE_DOUBLE,
    "float": F.TYPE_FLOAT,
    "int64": F.TYPE_INT64,
    "uint64": F.TYPE_UINT64,
    "int32": F.TYPE_INT32,
    "uint32": F.TYPE_UINT32,
    "bool": F.TYPE_BOOL,
    "string": F.TYPE_STRING,
    "bytes": F.TYPE_BYTES,
}

LABELS = {"optional": F.LABEL_OPTIONAL, "repeated": F.LABEL_REPEATED}

#: A field: (label, type, name, number) or (label, type, name, number, {"packed": True}).
#: ``type`` is a scalar name, a message name, or ``enum:Name``.
Field = tuple[Any, ...]


def build(
    package: str,
    messages: Mapping[str, Sequence[Field]],
    enums: Mapping[str, Mapping[str, int]] | None = None,
    syntax: str = "proto2",
    nested_enums: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None,
) -> dict[str, type]:
    """Return ``{message name: class}`` for a schema table, in a private descriptor pool.

    ``nested_enums`` declares enums inside a message (``{message: {enum: {value: n}}}``),
    as Caffe does where value names such as MAX would collide at package level; fields
    refer to them as ``enum:Message.Enum``.
    """
    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"modelhound/{package}.proto", package=package, syntax=syntax
    )
    for ename, values in (enums or {}).items():
        e = fdp.enum_type.add(name=ename)
        for vname, number in values.items():
            e.value.add(name=vname, number=number)
    for mname, fields in messages.items():
        m = fdp.message_type.add(name=mname)
        for ename, values in (nested_enums or {}).get(mname, {}).items():
            e = m.enum_type.add(name=ename)
            for vname, number in values.items():
                e.value.add(name=vname, number=number)
        for spec in fields:
            label, ftype, fname, number = spec[:4]
            opts = spec[4] if len(spec) > 4 else {}
            fd = m.field.add(name=fname, number=number, label=LABELS[label])
            if ftype in SCALARS:
                fd.type = SCALARS[ftype]  # type: ignore[assignment]
            elif ftype.startswith("enum:"):
                fd.type = F.TYPE_ENUM
                fd.type_name = f".{package}.{ftype[5:]}"
            else:
                fd.type = F.TYPE_MESSAGE
                fd.type_name = f".{package}.{ftype}"
            if opts.get("packed"):
                fd.options.packed = True
            if "default" in opts:
                fd.default_value = str(opts["default"])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in messages
    }
