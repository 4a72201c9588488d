//! Snap's media encryption (ProfileAssetManagement): AES-256-CBC with a random 32-byte key and
//! 16-byte IV, PKCS#7 padding (openssl's default). Snap decrypts with the key and IV we send
//! when creating the media object.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// The ciphertext of `plain` under `key` and `iv` (chosen when the media object is created,
/// and kept in the checkpoint: a repeated part upload must use the same).
pub fn encrypt(plain: &[u8], key: [u8; 32], iv: [u8; 16]) -> Vec<u8> {
    Enc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain)
}

/// Used by the fake (as Snap does on FINALIZE); `None` for wrong key/IV or garbage.
pub fn decrypt(key: &[u8], iv: &[u8], bytes: &[u8]) -> Option<Vec<u8>> {
    let dec = Dec::new_from_slices(key, iv).ok()?;
    dec.decrypt_padded_vec_mut::<Pkcs7>(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let plain = b"\xFF\xD8\xFF a jpeg, more or less".to_vec();
        let (key, iv): ([u8; 32], [u8; 16]) = (rand::random(), rand::random());
        let bytes = encrypt(&plain, key, iv);
        assert_ne!(bytes, plain);
        assert_eq!(bytes.len() % 16, 0);
        assert_eq!(decrypt(&key, &iv, &bytes), Some(plain.clone()));
        let wrong = [7u8; 32];
        assert_ne!(decrypt(&wrong, &iv, &bytes), Some(plain));
        assert_eq!(decrypt(&key[..16], &iv, &bytes), None);
    }
}
