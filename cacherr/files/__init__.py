"""The only code that touches users' media: mappings, the on-disk protocol, recovery, audit."""
