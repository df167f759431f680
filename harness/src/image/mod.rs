//! `deploycheck image`: a container image read as a file (a `docker save` tarball or an OCI
//! image layout), layer by layer and streamed, with no daemon, registry or network.

pub mod inventory;
pub mod osv;
pub mod version;
