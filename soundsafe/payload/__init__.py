"""Rights metadata: identifiers, the record schema, and (later) the keyed packet codec."""
