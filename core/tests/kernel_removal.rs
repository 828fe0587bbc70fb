//! Hot removal of a kernel device under a live process: the next request
//! finds its queue dead, falls back to the software engines, and returns the
//! right answer. Runs in the VM only (it removes /dev/warpdrive/soft0 and
//! reloads the module afterwards); elsewhere it returns early unless
//! WD_VM_ALLOW_REMOVE=1.

use std::process::Command;

use warpdrive::{BackendChoice, Config, Format, InlineMax, KernelDevice, Warpdrive};

#[test]
fn removing_the_device_under_a_live_process_falls_back_without_losing_requests() {
    if std::env::var("WD_VM_ALLOW_REMOVE").as_deref() != Ok("1") {
        return;
    }
    let dev = KernelDevice::discover()
        .into_iter()
        .find(|d| d.name == "soft0")
        .expect("soft0 present");
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i % 97) as u8 ^ (i / 1000) as u8)
        .collect();
    let expected = {
        let sw = Warpdrive::new(Config {
            backend: BackendChoice::Inline,
            ..Config::default()
        })
        .unwrap();
        let mut out = vec![0; 300_000];
        let n = sw.compress(Format::Gzip, 6, &data, &mut out).unwrap();
        out.truncate(n);
        out
    };
    {
        let wd = Warpdrive::new(Config {
            backend: BackendChoice::Kernel,
            device: Some(dev.name.clone()),
            inline_max: InlineMax::all(0),
            ..Config::default()
        })
        .unwrap();
        let mut out = vec![0; 300_000];
        let n = wd.compress(Format::Gzip, 6, &data, &mut out).unwrap();
        assert_eq!(wd.stats().offloaded, 1);
        let mut back = vec![0; data.len()];
        wd.decompress(Format::Gzip, &out[..n], &mut back).unwrap();
        assert!(back == data);

        std::fs::write(format!("/sys/class/warpdrive/{}/remove", dev.name), "1")
            .expect("remove attribute");
        assert!(
            !dev.path.exists(),
            "the device node must be gone after removal"
        );

        for _ in 0..3 {
            let n = wd
                .compress(Format::Gzip, 6, &data, &mut out)
                .expect("request after removal");
            assert_eq!(
                &out[..n],
                &expected[..],
                "the fallback must give the software engines' bytes"
            );
        }
        let s = wd.stats();
        assert!(s.fallbacks >= 1, "the dead queue was not noticed: {s:?}");
        assert_eq!(
            s.errors as usize, 1,
            "only the one request that met the dead queue may count an error: {s:?}"
        );
    }
    // Everything of ours is closed: the module can go and come back.
    let status = Command::new("sh")
        .args(["-c", "sh \"$WD_PROJ/tests/vm/reload.sh\""])
        .status()
        .unwrap();
    assert!(status.success(), "module reload after removal failed");
    assert!(dev.path.exists(), "soft0 is back after the reload");
}
