//! OAuth 1.0a, OAuth 2.0 and OpenID Connect: provider descriptions, the preset catalogue,
//! profile mapping, the sealed check cookies and ID-token verification.

pub mod apple;
pub mod checks;
pub mod client;
pub mod id_token;
pub mod oauth1;
pub mod presets;
pub mod profile;
pub mod provider;
pub mod renewal;

pub use presets::{preset, Preset, PresetError, PresetOptions, PRESET_IDS};
pub use profile::{Field, ProfileMap};
pub use provider::{
    Checks, ClientAuth, ClientSecret, Endpoints, OAuthProvider, Profile, ProfileSource, Protocol,
    TokenShape, UserinfoRequest,
};
