//! argon2id password hashing (OWASP: m=19 MiB, t=2, p=1), always on a blocking thread, at
//! most one per CPU at a time.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// DESIGN §3 / OWASP Password Storage Cheat Sheet.
    pub const PRODUCTION: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// Keycloak's default, reported beside ours in the benchmarks.
    pub const KEYCLOAK_DEFAULT: Self = Self {
        memory_kib: 7 * 1024,
        iterations: 5,
        parallelism: 1,
    };

    fn argon2(self) -> Argon2<'static> {
        // The constants above are valid argon2 parameters; anything else falls back to them.
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .unwrap_or_else(|_| Params::new(19 * 1024, 2, 1, None).unwrap_or_default());
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    Match,
    /// Correct, but hashed with other parameters: store a fresh hash.
    MatchNeedsRehash,
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    /// A real hash of a random password, verified against when the account does not exist so
    /// that unknown usernames cost the same time as wrong passwords.
    dummy_hash: String,
    /// One hash at a time per CPU. Each takes 19 MiB and a CPU for tens of milliseconds: a
    /// burst of logins (or of guesses) beyond that waits its turn instead of starving every
    /// other request of the process (and, locally, the store it talks to) of CPU and memory.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl PasswordHasher {
    /// Builds the dummy hash without hashing anything: a PHC string with the current
    /// parameters, a random salt and a random 32-byte output. Verifying against it costs
    /// exactly one argon2id computation at those parameters, and no password matches it, so
    /// cold starts do not pay ~30 ms to compute a real hash of a throwaway password.
    pub fn new(params: HashParams) -> Self {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut output = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut output);
        let output = base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, output);
        let dummy_hash = format!(
            "$argon2id$v=19$m={},t={},p={}${}${output}",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            salt.as_str()
        );
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            params,
            dummy_hash,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(cpus)),
        }
    }

    /// Runs `work` on a blocking thread once a CPU is free for it.
    async fn on_a_cpu<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| e.to_string())
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    pub async fn hash(&self, password: &Password) -> Result<String, String> {
        let (params, password) = (self.params, password.clone());
        self.on_a_cpu(move || hash_sync(params, &password)).await?
    }

    /// Verifies `password` against `phc`, or against the dummy hash when `phc` is `None`
    /// (the result is then always a mismatch, after the same amount of work).
    pub async fn verify(&self, password: &Password, phc: Option<&str>) -> Verdict {
        let target = phc.map(str::to_owned);
        let dummy = self.dummy_hash.clone();
        let params = self.params;
        let password = password.clone();
        self.on_a_cpu(move || {
            let real = target.is_some();
            let hash = target.unwrap_or(dummy);
            let verdict = verify_sync(params, &password, &hash);
            if real {
                verdict
            } else {
                Verdict::Mismatch
            }
        })
        .await
        .unwrap_or(Verdict::Mismatch)
    }
}

pub fn hash_sync(params: HashParams, password: &Password) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    params
        .argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_sync(params: HashParams, password: &Password, phc: &str) -> Verdict {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verdict::Mismatch;
    };
    // Verify with the parameters stored in the hash, so old hashes keep working.
    if Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_err()
    {
        return Verdict::Mismatch;
    }
    let current = Params::try_from(&parsed).ok().map(|p| HashParams {
        memory_kib: p.m_cost(),
        iterations: p.t_cost(),
        parallelism: p.p_cost(),
    });
    if parsed.algorithm.as_str() == "argon2id" && current == Some(params) {
        Verdict::Match
    } else {
        Verdict::MatchNeedsRehash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn production_hash_is_argon2id_with_the_design_parameters() {
        let h = hash_sync(HashParams::PRODUCTION, &Password::new("riktig hest batteri".into())).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }

    #[test]
    fn verify_matches_only_the_right_password() {
        let h = hash_sync(FAST, &Password::new("riktig hest batteri".into())).unwrap();
        assert_eq!(
            verify_sync(FAST, &Password::new("riktig hest batteri".into()), &h),
            Verdict::Match
        );
        assert_eq!(verify_sync(FAST, &Password::new("feil".into()), &h), Verdict::Mismatch);
        assert_eq!(
            verify_sync(FAST, &Password::new("x".into()), "not a hash"),
            Verdict::Mismatch
        );
    }

    #[test]
    fn old_parameters_ask_for_a_rehash() {
        let h = hash_sync(FAST, &Password::new("riktig hest batteri".into())).unwrap();
        assert_eq!(
            verify_sync(HashParams::PRODUCTION, &Password::new("riktig hest batteri".into()), &h),
            Verdict::MatchNeedsRehash
        );
    }

    #[test]
    fn dummy_hash_costs_one_verification_at_the_current_parameters() {
        let hasher = PasswordHasher::new(HashParams::PRODUCTION);
        let parsed = PasswordHash::new(&hasher.dummy_hash).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (19 * 1024, 2, 1));
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(parsed.hash.map(|h| h.len()), Some(32));
        assert_ne!(
            PasswordHasher::new(HashParams::PRODUCTION).dummy_hash,
            hasher.dummy_hash
        );
    }

    #[tokio::test]
    async fn unknown_account_never_matches() {
        let hasher = PasswordHasher::new(FAST);
        assert_eq!(
            hasher.verify(&Password::new("anything".into()), None).await,
            Verdict::Mismatch
        );
    }
}
