"""Azure plumbing any backend stands on: storage blobs (:mod:`.blob`), the one connection-string
parser (:mod:`.connection_string`), and for ARM: sign-in and clouds (:mod:`.credentials`), the
azure-core pipeline options and the shared retry rule (:mod:`.pipeline`), the one long-running-
operation poller (:mod:`.polling`), the one error mapping (:mod:`.errors`) and a generic resource
client (``ArmResourceClient``). Nothing here imports an azure SDK until it is used."""
