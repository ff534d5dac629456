//! `art-host new` and `art-host new-pack`: a project and a step pack from the templates, the
//! pack compiled with cargo, loaded by the host and run.

use std::path::Path;

use art_e2e::{art, built, cargo_build};

#[test]
fn a_new_pack_compiles_loads_and_its_step_and_check_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let made = art(tmp.path(), &["new-pack", "shares-pack"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let out = cargo_build(&tmp.path().join("shares-pack"));
    assert!(
        out.status.success(),
        "the template did not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = built().dir.join(format!(
        "{}shares_pack{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(lib.exists(), "{} missing", lib.display());

    let proj = art(tmp.path(), &["new", "proj"]);
    assert_eq!(proj.code, 0, "{}", proj.stderr);
    let dir = tmp.path().join("proj");
    std::fs::copy(&lib, dir.join("plugins").join(lib.file_name().unwrap())).unwrap();
    std::fs::write(
        dir.join("art.toml"),
        r#"
[project]
name = "proj"

[[steps]]
use = "recipe::data-analysis"

[[steps]]
use = "shares-pack::class-shares"
checks = [{ use = "shares-pack::min-share", min = 0.05 }, "share.min > 0.09"]
"#,
    )
    .unwrap();
    let steps = art(&dir, &["steps"]);
    assert!(
        steps.stdout.contains("shares-pack::class-shares"),
        "{}",
        steps.stdout
    );
    let run = art(&dir, &["run", "--json"]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let step = run.step("class-shares");
    assert_eq!(step["status"], "passed");
    let min = step["metrics"]["share.min"].as_f64().unwrap();
    assert!((0.09..0.11).contains(&min), "{min}");

    // Names that cannot be packs, and folders that exist, are refused.
    let bad = art(tmp.path(), &["new-pack", "9-lives"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not a usable name"), "{}", bad.stderr);
    let again = art(tmp.path(), &["new", "proj"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

/// A tar.gz whose only entry has a name the tar crate would refuse to write (`..`, absolute).
fn evil_archive(path: &Path, entry: &str, kind: tar::EntryType) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    let name = &mut h.as_gnu_mut().unwrap().name;
    name[..entry.len()].copy_from_slice(entry.as_bytes());
    h.set_entry_type(kind);
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    b.into_inner().unwrap().finish().unwrap();
}

#[test]
fn pack_publish_install_run_and_tampering_and_tar_slip_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // new-pack, then `art-host pack`, which runs `cargo build --release` itself (into the
    // workspace's target folder, so the dependencies are built once per CI run).
    let started = std::time::Instant::now();
    assert_eq!(art(t, &["new-pack", "cycle-pack"]).code, 0);
    let target = built().dir.parent().unwrap().to_str().unwrap().to_owned();
    let dist = t.join("dist");
    let packed = art_e2e::art_env(
        &t.join("cycle-pack"),
        &["pack", "--out", dist.to_str().unwrap()],
        &[("CARGO_TARGET_DIR", target.as_str())],
    );
    assert_eq!(packed.code, 0, "{}", packed.stderr);
    let lib = built().dir.parent().unwrap().join("release").join(format!(
        "{}cycle_pack{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let archive = std::fs::read_dir(&dist)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let name = archive.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("cycle-pack-0.1.0-") && name.ends_with(".artpack"),
        "{name}"
    );

    let reg = t.join("registry");
    let reg_s = reg.to_str().unwrap();
    assert_eq!(
        art(
            t,
            &["publish", archive.to_str().unwrap(), "--registry", reg_s]
        )
        .code,
        0
    );
    let again = art(
        t,
        &["publish", archive.to_str().unwrap(), "--registry", reg_s],
    );
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already published"),
        "{}",
        again.stderr
    );
    let found = art(t, &["search", "cycle", "--registry", reg_s]);
    assert!(
        found.stdout.contains("cycle-pack") && found.stdout.contains("0.1.0"),
        "{}",
        found.stdout
    );

    assert_eq!(art(t, &["new", "proj"]).code, 0);
    let proj = t.join("proj");
    let none = art(&proj, &["install", "cycle-pack@^0.2", "--registry", reg_s]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr
            .contains("no version of `cycle-pack` matches ^0.2"),
        "{}",
        none.stderr
    );
    let inst = art(&proj, &["install", "cycle-pack@^0.1", "--registry", reg_s]);
    assert_eq!(inst.code, 0, "{}", inst.stderr);
    assert!(proj.join("plugins/cycle-pack/pack.toml").exists());
    std::fs::write(
        proj.join("art.toml"),
        "[project]\nname = \"proj\"\n\n[[steps]]\nuse = \"cycle-pack::class-shares\"\nchecks = [{ use = \"cycle-pack::min-share\" }]\n",
    )
    .unwrap();
    let run = art(&proj, &["run", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.step("class-shares")["status"], "passed");
    eprintln!(
        "new-pack -> build --release -> pack -> publish -> new -> install -> run: {:.1} s; archive {} KB",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&archive).map_or(0, |m| m.len() / 1024)
    );
    let verify = art(&proj, &["plugins", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);

    // One byte changed after install: refused at load with the fix.
    let installed = proj
        .join("plugins/cycle-pack")
        .join(lib.file_name().unwrap());
    let mut bytes = std::fs::read(&installed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&installed, bytes).unwrap();
    let list = art(&proj, &["plugins", "list"]);
    assert!(
        list.stdout.contains("checksum mismatch") && list.stdout.contains("reinstall"),
        "{}",
        list.stdout
    );
    let tampered = art(&proj, &["run", "--json", "--force"]);
    assert_eq!(tampered.code, 1);
    assert!(tampered.step("class-shares")["error"]
        .as_str()
        .unwrap()
        .contains("checksum mismatch"));

    // Tar-slip and links: refused, nothing written, plugins/ unchanged.
    let before = art_e2e::snapshot(&proj.join("plugins"));
    for (entry, kind, msg) in [
        ("../escaped.txt", tar::EntryType::Regular, "`..`"),
        (
            "/tmp/art-absolute.txt",
            tar::EntryType::Regular,
            "absolute path",
        ),
        ("lib/link", tar::EntryType::Symlink, "link"),
    ] {
        let evil = t.join("evil.artpack");
        evil_archive(&evil, entry, kind);
        let r = art(&proj, &["install", evil.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{entry}: {}", r.stdout);
        assert!(r.stderr.contains(msg), "{entry}: {}", r.stderr);
    }
    assert!(!proj.join("escaped.txt").exists() && !Path::new("/tmp/art-absolute.txt").exists());
    assert_eq!(
        art_e2e::snapshot(&proj.join("plugins")),
        before,
        "a failed install changed plugins/"
    );

    // The same install from the registry served over HTTP on 127.0.0.1.
    let server = art_e2e::StaticServer::start(&reg);
    assert_eq!(art(t, &["new", "proj2"]).code, 0);
    let over_http = art(
        &t.join("proj2"),
        &["install", "cycle-pack@^0.1", "--registry", &server.url],
    );
    assert_eq!(over_http.code, 0, "{}", over_http.stderr);
    assert!(t.join("proj2/plugins/cycle-pack/pack.toml").exists());
    let missing = art(
        &t.join("proj2"),
        &["install", "nothing-here", "--registry", &server.url],
    );
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no pack `nothing-here`"),
        "{}",
        missing.stderr
    );
    drop(server);

    let removed = art(&proj, &["plugins", "remove", "cycle-pack"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(!proj.join("plugins/cycle-pack").exists());
}

#[test]
fn a_damaged_registry_index_is_reported_with_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    std::fs::create_dir_all(&reg).unwrap();
    std::fs::write(
        reg.join("index.json"),
        b"{\"schema\": 1, \"packs\": {\"x\": [ {\"vers",
    )
    .unwrap();
    let search = art(tmp.path(), &["search", "--registry", reg.to_str().unwrap()]);
    assert_eq!(search.code, 2);
    assert!(
        search.stderr.contains("registry")
            && search.stderr.contains("index.json is unreadable")
            && search.stderr.contains("restore it"),
        "{}",
        search.stderr
    );
    let install = art(
        tmp.path(),
        &["install", "x@^1", "--registry", reg.to_str().unwrap()],
    );
    assert_eq!(install.code, 2);
    assert!(
        install.stderr.contains("index.json is unreadable"),
        "{}",
        install.stderr
    );
    assert!(!tmp.path().join("plugins/x").exists());
}
