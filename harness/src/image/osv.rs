//! Offline OSV advisories matched against an image inventory.
