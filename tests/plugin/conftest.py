"""pytester runs its test files in this process, and forgets the modules first imported during each
run. The plugin imports the mock only when a fixture needs it, so the mock's modules would be
imported again by every run, and cryptography's Rust bindings cannot be imported twice in one
process. Importing the mock here, once, keeps them."""

import contracts._inprocess
import contracts._live  # noqa: F401
