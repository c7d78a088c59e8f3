//! ed25519 identities prepared once per run for signing.
//!
//! russh signs with `ssh_key::PrivateKey`, which rebuilds the
//! `ed25519_dalek::SigningKey` for every signature: it derives the public
//! point from the secret again (a base-point multiplication), decompresses
//! the stored public key and compares the two. That is about twice the cost
//! of the signature itself, paid once per host. [`Ed25519Identity`] does
//! that work once, when the identity file is loaded, and signs through
//! russh's [`russh::Signer`] hook (`authenticate_publickey_with`).
//! The bytes on the wire are the same: `string "ssh-ed25519"`, `string
//! signature` (RFC 8709), appended to the data russh asks us to sign.

use ed25519_dalek::Signer as _;
use russh::keys::{HashAlg, PrivateKey, PublicKey};

/// The algorithm name in the signature blob (RFC 8709).
const ALGORITHM: &[u8] = b"ssh-ed25519";

/// An ed25519 identity with its signing key derived once.
pub struct Ed25519Identity {
    public: PublicKey,
    signing: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for Ed25519Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Identity")
            .field("public", &self.public.fingerprint(HashAlg::Sha256))
            .finish_non_exhaustive()
    }
}

impl Ed25519Identity {
    /// Prepares `key`; `None` when it is not an ed25519 key, or when its
    /// public half does not belong to its secret (russh's own path then
    /// reports the error).
    pub fn new(key: &PrivateKey) -> Option<Self> {
        let pair = key.key_data().ed25519()?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&pair.private.to_bytes());
        if signing.verifying_key().as_bytes() != pair.public.as_ref() {
            return None;
        }
        Some(Ed25519Identity {
            public: key.public_key().clone(),
            signing,
        })
    }

    /// The public key offered to the server.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// A signer for one authentication attempt.
    pub fn signer(&self) -> IdentitySigner<'_> {
        IdentitySigner(self)
    }

    /// Appends the SSH signature blob of `data` to `data`, as an SSH string.
    fn sign_into(&self, data: &mut Vec<u8>) {
        let signature = self.signing.sign(data).to_bytes();
        let blob_len = 4 + ALGORITHM.len() + 4 + signature.len();
        data.reserve(4 + blob_len);
        push_u32(data, blob_len);
        push_u32(data, ALGORITHM.len());
        data.extend_from_slice(ALGORITHM);
        push_u32(data, signature.len());
        data.extend_from_slice(&signature);
    }
}

fn push_u32(out: &mut Vec<u8>, n: usize) {
    // Every length here is a small constant.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

/// russh's signing hook for an [`Ed25519Identity`].
#[derive(Debug)]
pub struct IdentitySigner<'a>(&'a Ed25519Identity);

/// The only way signing can fail: the connection's event loop is gone.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SignError(#[from] russh::SendError);

impl russh::Signer for IdentitySigner<'_> {
    type Error = SignError;

    async fn auth_sign(
        &mut self,
        _key: &russh::keys::agent::AgentIdentity,
        _hash_alg: Option<HashAlg>,
        mut to_sign: Vec<u8>,
    ) -> Result<Vec<u8>, Self::Error> {
        self.0.sign_into(&mut to_sign);
        Ok(to_sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_encoding::Decode;
    use russh::keys::ssh_key::Signature;
    use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};

    #[test]
    fn signature_blob_is_the_one_ssh_key_makes() {
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        let identity = Ed25519Identity::new(&key).unwrap();
        assert_eq!(identity.public_key(), key.public_key());
        let message = b"session id and userauth request".to_vec();
        let mut data = message.clone();
        identity.sign_into(&mut data);
        // russh's own path signs with ssh-key and appends the encoded blob.
        let expected: Signature = key.try_sign(&message).unwrap();
        let (len, mut blob) = data[message.len()..].split_at(4);
        assert_eq!(
            u32::from_be_bytes(len.try_into().unwrap()) as usize,
            blob.len()
        );
        let parsed = Signature::decode(&mut blob).unwrap();
        assert!(blob.is_empty());
        assert_eq!(parsed, expected);
    }

    #[test]
    fn a_key_whose_halves_do_not_match_is_left_to_russh() {
        let a = Ed25519Keypair::from_seed(&[1; 32]);
        let b = Ed25519Keypair::from_seed(&[2; 32]);
        let mismatched = Ed25519Keypair {
            public: b.public,
            private: a.private.clone(),
        };
        let key = PrivateKey::new(KeypairData::Ed25519(mismatched), "").unwrap();
        assert!(Ed25519Identity::new(&key).is_none());
        assert!(Ed25519Identity::new(&PrivateKey::from(a)).is_some());
    }
}
