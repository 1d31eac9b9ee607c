//! Burn on a wgpu device created by someone else (the app window's): with every adapter
//! feature and limit requested, as the app does, it computes the same perturbation as the
//! CPU backend. Its own test binary: Burn's WGPU runtime is set up once per process.

use std::sync::Arc;

use eframe::egui_wgpu::{self, wgpu};
use unlearnable::device::{ComputeDevice, share_wgpu};
use unlearnable::{CancelToken, DeviceChoice, MethodId, ProtectConfig, ProtectJob, Strength};

#[test]
fn burn_computes_on_a_shared_window_device() {
    let mut setup = egui_kittest::wgpu::default_wgpu_setup();
    if let egui_wgpu::WgpuSetup::CreateNew(c) = &mut setup {
        c.device_descriptor = Arc::new(|a: &wgpu::Adapter| wgpu::DeviceDescriptor {
            required_features: a.features(),
            required_limits: a.limits(),
            ..Default::default()
        });
    }
    let rs = egui_kittest::wgpu::create_render_state(setup, Default::default());
    share_wgpu(
        rs.instance.clone(),
        rs.adapter.clone(),
        rs.device.clone(),
        rs.queue.clone(),
    )
    .expect("the shared device is accepted");
    let d = ComputeDevice::select(DeviceChoice::Wgpu).expect("wgpu available");
    assert!(d.name.contains("shared with the app window"), "{}", d.name);
    // A second window cannot replace it.
    assert!(
        share_wgpu(
            rs.instance.clone(),
            rs.adapter.clone(),
            rs.device.clone(),
            rs.queue.clone()
        )
        .is_err()
    );

    // Same photos, same seed: the shared GPU device and the CPU write the same pixels (±1).
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for i in 0..2u32 {
        let img = image::RgbImage::from_fn(48, 40, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x + y + i * 9) * 3) as u8])
        });
        img.save(input.join(format!("p{i}.png"))).unwrap();
    }
    let run = |device, out: &str| {
        let job = ProtectJob {
            inputs: vec![input.clone()],
            out_dir: dir.path().join(out),
            config: ProtectConfig::new(MethodId::Conv, Strength::Medium),
            device,
            resume: false,
            shard: None,
        };
        unlearnable::job::run(&job, &unlearnable::progress::NullSink, &CancelToken::new())
            .expect("job runs")
    };
    let gpu = run(DeviceChoice::Wgpu, "gpu");
    let cpu = run(DeviceChoice::Cpu, "cpu");
    assert!(gpu.manifest.device.contains("shared with the app window"));
    for (a, b) in gpu.manifest.images.iter().zip(&cpu.manifest.images) {
        let x = image::open(&a.output).unwrap().to_rgb8();
        let y = image::open(&b.output).unwrap().to_rgb8();
        let worst = x
            .as_raw()
            .iter()
            .zip(y.as_raw())
            .map(|(p, q)| p.abs_diff(*q))
            .max()
            .unwrap();
        assert!(worst <= 1, "{}: differs by {worst}", a.output.display());
    }
}
