//! Who is calling: SPIFFE IDs from verified peer certificates, `x-forwarded-client-cert`
//! parsing, the mapping from SPIFFE ID to service name, and source-address CIDRs. Identity
//! comes from what Envoy verified (the mTLS peer certificate) — never from a header a client
//! can set, unless configuration explicitly trusts it. Access control and service metrics
//! share this crate so a caller has the same name in a policy and on a dashboard, and header
//! normalization reads its trusted proxies' CIDRs with it. Pure logic, no host calls.

mod cidr;
mod mapping;
mod spiffe;
mod xfcc;

pub use cidr::{parse_source_address, Cidr, CidrError};
pub use mapping::{IdentityError, ServiceNameRule, SpiffeMapping, SpiffeMappingConfig};
pub use spiffe::{SpiffeError, SpiffeId};
pub use xfcc::{parse_xfcc, XfccElement, XfccError};
