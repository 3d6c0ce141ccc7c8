//! argon2id password hashing (OWASP: m=19 MiB, t=2, p=1), always on a blocking thread, at
//! most one per CPU at a time.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;

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
    permits: Arc<tokio::sync::Semaphore>,
    /// argon2's working memory, kept between verifications: one buffer per hash under way
    /// (so at most one per CPU). A fresh 19 MiB allocation on whichever blocking thread runs a
    /// login is mapped anew each time, and the page faults and the kernel zeroing the pages
    /// cost a fifth of the hash itself.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
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
            permits: Arc::new(tokio::sync::Semaphore::new(cpus)),
            memory: Arc::default(),
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
        let (real, hash) = match phc {
            Some(phc) => (true, phc.to_owned()),
            None => (false, self.dummy_hash.clone()),
        };
        let params = self.params;
        let password = password.clone();
        let memory = self.memory.clone();
        self.on_a_cpu(move || {
            let mut blocks = take(&memory);
            let verdict = verify_sync_in(params, &password, &hash, &mut blocks);
            give_back(&memory, blocks, params);
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

/// The largest argon2 costs a stored hash may ask for (ours: 19 MiB, 2 passes, 1 lane).
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_ITERATIONS: u32 = 16;
const MAX_PARALLELISM: u32 = 8;

/// Verifies `password` against the PHC string `phc` with the algorithm, version and
/// parameters stored in it (so old hashes keep working), using `memory` as argon2's working
/// memory (grown as needed, wiped afterwards). The outputs are compared in constant time.
pub fn verify_sync_in(params: HashParams, password: &Password, phc: &str, memory: &mut Vec<Block>) -> Verdict {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verdict::Mismatch;
    };
    let (Some(expected), Ok(algorithm), Ok(stored)) = (
        parsed.hash,
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return Verdict::Mismatch;
    };
    // Stored hashes are ours, but a hash must never be able to take the process down: a cost
    // far beyond any we ever used (or would) is refused, not computed.
    if stored.m_cost() > MAX_MEMORY_KIB || stored.t_cost() > MAX_ITERATIONS || stored.p_cost() > MAX_PARALLELISM {
        return Verdict::Mismatch;
    }
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return Verdict::Mismatch,
    };
    let mut salt = [0u8; 64];
    let Some(salt) = parsed.salt.and_then(|s| s.decode_b64(&mut salt).ok()) else {
        return Verdict::Mismatch;
    };
    let blocks = stored.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    // Ours are 32 bytes; PHC allows up to 64 (longer cannot be ours).
    let mut output = [0u8; 64];
    let Some(output) = output.get_mut(..expected.len()) else {
        return Verdict::Mismatch;
    };
    let computed = Argon2::new(algorithm, version, stored.clone()).hash_password_into_with_memory(
        password.expose().as_bytes(),
        salt,
        &mut *output,
        &mut memory[..blocks],
    );
    // The memory holds state derived from the password: wiped before it waits for the next one.
    memory[..blocks].fill(Block::default());
    std::hint::black_box(&memory);
    if computed.is_err() || !bool::from(output.ct_eq(expected.as_bytes())) {
        return Verdict::Mismatch;
    }
    let current = HashParams {
        memory_kib: stored.m_cost(),
        iterations: stored.t_cost(),
        parallelism: stored.p_cost(),
    };
    if algorithm == Algorithm::Argon2id && current == params {
        Verdict::Match
    } else {
        Verdict::MatchNeedsRehash
    }
}

fn take(pool: &Mutex<Vec<Vec<Block>>>) -> Vec<Block> {
    pool.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
}

/// Keeps `blocks` for the next verification unless an old hash with larger parameters grew
/// it beyond what the current ones need.
fn give_back(pool: &Mutex<Vec<Vec<Block>>>, blocks: Vec<Block>, params: HashParams) {
    if blocks.len() <= params.memory_kib as usize {
        pool.lock().unwrap_or_else(|e| e.into_inner()).push(blocks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies in freshly allocated memory.
    fn verify_sync(params: HashParams, password: &Password, phc: &str) -> Verdict {
        verify_sync_in(params, password, phc, &mut Vec::new())
    }

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

    #[test]
    fn reused_memory_gives_the_same_verdicts_and_is_wiped_after_each() {
        let right = Password::new("riktig hest batteri".into());
        let ours = hash_sync(FAST, &right).unwrap();
        let older = hash_sync(
            HashParams {
                memory_kib: 2048,
                iterations: 1,
                parallelism: 1,
            },
            &right,
        )
        .unwrap();
        let mut memory = Vec::new();
        for _ in 0..2 {
            assert_eq!(verify_sync_in(FAST, &right, &ours, &mut memory), Verdict::Match);
            assert!(memory.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
            assert_eq!(
                verify_sync_in(FAST, &Password::new("feil".into()), &ours, &mut memory),
                Verdict::Mismatch
            );
            assert_eq!(
                verify_sync_in(FAST, &right, &older, &mut memory),
                Verdict::MatchNeedsRehash
            );
            assert!(memory.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
        }
    }

    #[test]
    fn other_argon2_variants_and_tampered_hashes() {
        let right = Password::new("riktig hest batteri".into());
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(right.expose().as_bytes(), &salt)
        .unwrap()
        .to_string();
        assert_eq!(verify_sync(FAST, &right, &argon2i), Verdict::MatchNeedsRehash);
        let ours = hash_sync(FAST, &right).unwrap();
        // The same hash output under another algorithm, a changed parameter or salt, or cut short.
        for tampered in [
            ours.replacen("argon2id", "argon2d", 1),
            ours.replacen("t=1", "t=2", 1),
            // Costs that would take the process down are refused, not computed.
            ours.replacen("m=1024", "m=4294967295", 1),
            ours.replacen("t=1", "t=4294967295", 1),
            // The last character changed (to one it is not: a fixed one would equal it now and then).
            format!(
                "{}{}",
                &ours[..ours.len() - 1],
                if ours.ends_with('A') { 'B' } else { 'A' }
            ),
            ours[..ours.rfind('$').unwrap()].to_owned(),
        ] {
            assert_eq!(verify_sync(FAST, &right, &tampered), Verdict::Mismatch, "{tampered}");
        }
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
