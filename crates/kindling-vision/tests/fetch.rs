//! Weight download against a local HTTP server on 127.0.0.1 (no test touches the internet).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread::JoinHandle;

use kindling_vision::fetch::{self, ExpectedHash, FetchError, WeightsSpec};
use kindling_vision::{Arch, weights};

/// Serves `body` at `/models/<name>` (404 elsewhere) for `requests` connections.
fn serve(name: &'static str, body: Vec<u8>, requests: usize) -> (String, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/models/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut served = 0;
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            if path == format!("/models/{name}") {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
                served += 1;
            } else {
                stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
            }
        }
        served
    });
    (base, handle)
}

fn fixture() -> Vec<u8> {
    std::fs::read(common::fixture_path("resnet18_fp16_shared.pth")).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn good_hash_lands_in_the_cache_and_loads() {
    let body = fixture();
    let sha = {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, &body).unwrap();
        fetch::sha256_file(&p).unwrap()
    };
    let (base, server) = serve("resnet18-test.pth", body.clone(), 1);
    let cache = tempfile::tempdir().unwrap();
    let url: &'static str = Box::leak(format!("{base}resnet18-test.pth").into_boxed_str());
    let sha: &'static str = Box::leak(sha.into_boxed_str());
    let spec = WeightsSpec { arch: Arch::Resnet18, tag: "TEST", url, sha256: Some(sha) };
    let mut calls = 0;
    let mut progress = |_: u64, total: Option<u64>| {
        calls += 1;
        assert_eq!(total, Some(body.len() as u64));
    };
    let path = fetch::fetch(&spec, cache.path(), Some(&mut progress)).unwrap();
    assert!(calls > 0);
    assert_eq!(path, cache.path().join("resnet18-test.pth"));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(files_in(cache.path()), ["resnet18-test.pth"]);
    assert_eq!(server.join().unwrap(), 1);
    // A second fetch is served from the cache: the server is gone, so any request would fail.
    assert_eq!(fetch::fetch(&spec, cache.path(), None).unwrap(), path);
    assert_eq!(fetch::cached(&spec, cache.path()), Some(path.clone()));
    // The downloaded file is a real torchvision checkpoint.
    let model = weights::load_weights(Arch::Resnet18.init(1000, &kindling_core::default_device()), &path);
    assert!(model.is_ok(), "{:?}", model.err());
}

#[test]
fn bad_hash_is_a_typed_error_and_leaves_nothing() {
    let (base, server) = serve("w.pth", fixture(), 1);
    let cache = tempfile::tempdir().unwrap();
    let dest = cache.path().join("sub").join("w.pth");
    let expected = ExpectedHash::Full("0".repeat(64));
    let err = fetch::download_verified(&format!("{base}w.pth"), &dest, &expected, None).unwrap_err();
    match &err {
        FetchError::HashMismatch { url, expected, actual } => {
            assert!(url.ends_with("/models/w.pth"));
            assert_eq!(expected, &"0".repeat(64));
            assert_eq!(actual.len(), 64);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(!dest.exists());
    assert!(files_in(&cache.path().join("sub")).is_empty(), "no partial file left behind");
    server.join().unwrap();
}

#[test]
fn name_prefix_check_like_torchvision() {
    let body = b"not really weights".to_vec();
    let (base, server) = serve("x.pth", body.clone(), 2);
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    std::fs::write(&p, &body).unwrap();
    let digest = fetch::sha256_file(&p).unwrap();
    let dest = cache.path().join("x.pth");
    fetch::download_verified(&format!("{base}x.pth"), &dest, &ExpectedHash::Prefix(digest[..8].to_string()), None)
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let wrong = if digest.starts_with('0') { "11111111" } else { "00000000" };
    let dest2 = cache.path().join("y.pth");
    let err = fetch::download_verified(&format!("{base}x.pth"), &dest2, &ExpectedHash::Prefix(wrong.into()), None)
        .unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err:?}");
    assert_eq!(files_in(cache.path()), ["x.pth"]);
    server.join().unwrap();
}

#[test]
fn http_error_is_typed_and_leaves_nothing() {
    let (base, server) = serve("present.pth", vec![1, 2, 3], 1);
    let cache = tempfile::tempdir().unwrap();
    let dest = cache.path().join("absent.pth");
    let err = fetch::download_verified(&format!("{base}absent.pth"), &dest, &ExpectedHash::Prefix("00".into()), None)
        .unwrap_err();
    assert!(matches!(&err, FetchError::Http { url, .. } if url.ends_with("absent.pth")), "{err:?}");
    assert!(err.to_string().contains("404"), "{err}");
    assert!(files_in(cache.path()).is_empty());
    server.join().unwrap();
}
