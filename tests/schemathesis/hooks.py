"""schemathesis hooks for Zoufang's server (loaded through `hooks` in schemathesis.toml)."""

import schemathesis

# Sync bodies are opaque bytes (DEFLATE-compressed postcard, `zoufang_shared::wire`): send the
# bytes generated for the `format: binary` schema as they are, as for application/octet-stream.
schemathesis.serializer.alias("application/x-zoufang-sync", "application/octet-stream")
