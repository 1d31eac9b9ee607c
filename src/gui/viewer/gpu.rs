//! Drawing compare panes with the WGSL shader in `shaders/compare.wgsl`, through egui's wgpu
//! paint callbacks. The two full-resolution images are uploaded once per selected photo;
//! every frame after that only writes a 48-byte uniform block per pane.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, ScreenDescriptor, wgpu};

use super::preview::{PreviewPair, mip_size};

/// What one pane shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaneMode {
    /// The original.
    Clean,
    /// The protected copy.
    Protected,
    /// `0.5 + (protected − clean) × amplify`, per channel.
    Noise,
    /// `|protected − clean|` (largest channel) × amplify, on a colour ramp.
    Heat,
    /// Clean left of the split line, protected right of it.
    Split,
}

impl PaneMode {
    fn code(self) -> u32 {
        match self {
            PaneMode::Clean => 0,
            PaneMode::Protected => 1,
            PaneMode::Noise => 2,
            PaneMode::Heat => 3,
            PaneMode::Split => 4,
        }
    }
}

/// Per-pane shader parameters (the `Pane` struct of the shader).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaneUniforms {
    /// Texture coordinate at the pane's top-left.
    pub uv_min: [f32; 2],
    /// Texture coordinate at the pane's bottom-right.
    pub uv_max: [f32; 2],
    /// What to draw.
    pub mode: PaneMode,
    /// Nearest-neighbour sampling (zoomed in past 1:1).
    pub nearest: bool,
    /// Noise amplification.
    pub amplify: f32,
    /// Split position across the pane (0–1).
    pub split: f32,
    /// Mip level to sample (log2 of image pixels per screen pixel; 0 when zoomed in).
    pub lod: f32,
}

impl PaneUniforms {
    fn bytes(&self, srgb_target: bool) -> [u8; 48] {
        let words: [u32; 12] = [
            self.uv_min[0].to_bits(),
            self.uv_min[1].to_bits(),
            self.uv_max[0].to_bits(),
            self.uv_max[1].to_bits(),
            self.mode.code(),
            u32::from(self.nearest),
            self.amplify.to_bits(),
            self.split.to_bits(),
            u32::from(srgb_target),
            self.lod.to_bits(),
            0,
            0,
        ];
        let mut out = [0u8; 48];
        for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// One pane's paint callback.
pub struct PaneCallback {
    /// The images (shared with the app; uploaded once per `pair.id`).
    pub pair: Arc<PreviewPair>,
    /// Which pane (each has its own uniform buffer).
    pub pane: u32,
    /// Shader parameters.
    pub uniforms: PaneUniforms,
    /// Framebuffer format, from eframe's render state.
    pub target_format: wgpu::TextureFormat,
}

struct PaneGpu {
    buffer: wgpu::Buffer,
    /// The bind group, for (image id, nearest sampling).
    bind_group: Option<((u64, bool), wgpu::BindGroup)>,
}

/// GPU state kept in egui's callback resources between frames.
struct CompareGpu {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    linear: wgpu::Sampler,
    nearest: wgpu::Sampler,
    images: Option<(u64, wgpu::TextureView, wgpu::TextureView)>,
    panes: HashMap<u32, PaneGpu>,
}

const SHADER: &str = include_str!("../../../shaders/compare.wgsl");

impl CompareGpu {
    fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("unlearnable compare"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let tex_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let sampler_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("unlearnable compare"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                tex_entry(1),
                tex_entry(2),
                // One sampler, picked per pane on the CPU: a shader that samples the same
                // texture through two samplers does not translate to GLSL (wgpu's GL backend,
                // used where there is no Vulkan).
                sampler_entry(3),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("unlearnable compare"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("unlearnable compare"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                buffers: &[],
                compilation_options: Default::default(),
            },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
                compilation_options: Default::default(),
            }),
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                ..Default::default()
            },
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
        let sampler = |filter| {
            device.create_sampler(&wgpu::SamplerDescriptor {
                label: Some("unlearnable compare"),
                address_mode_u: wgpu::AddressMode::ClampToEdge,
                address_mode_v: wgpu::AddressMode::ClampToEdge,
                mag_filter: filter,
                min_filter: filter,
                mipmap_filter: wgpu::MipmapFilterMode::Linear,
                ..Default::default()
            })
        };
        Self {
            pipeline,
            layout,
            linear: sampler(wgpu::FilterMode::Linear),
            nearest: sampler(wgpu::FilterMode::Nearest),
            images: None,
            panes: HashMap::new(),
        }
    }

    fn upload(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, pair: &PreviewPair) {
        let levels = pair.clean_rgba.len() as u32;
        let make = |chain: &[Vec<u8>]| {
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("unlearnable compare image"),
                size: wgpu::Extent3d {
                    width: pair.width,
                    height: pair.height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: levels,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            for (level, pixels) in chain.iter().enumerate() {
                let (w, h) = mip_size(pair.width, pair.height, level as u32);
                queue.write_texture(
                    wgpu::TexelCopyTextureInfo {
                        texture: &texture,
                        mip_level: level as u32,
                        origin: wgpu::Origin3d::ZERO,
                        aspect: wgpu::TextureAspect::All,
                    },
                    pixels,
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(4 * w),
                        rows_per_image: Some(h),
                    },
                    wgpu::Extent3d {
                        width: w,
                        height: h,
                        depth_or_array_layers: 1,
                    },
                );
            }
            texture.create_view(&wgpu::TextureViewDescriptor::default())
        };
        self.images = Some((pair.id, make(&pair.clean_rgba), make(&pair.protected_rgba)));
    }
}

impl CallbackTrait for PaneCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let gpu = resources
            .entry::<CompareGpu>()
            .or_insert_with(|| CompareGpu::new(device, self.target_format));
        if gpu.images.as_ref().map(|i| i.0) != Some(self.pair.id) {
            gpu.upload(device, queue, &self.pair);
        }
        let Some((image_id, clean, protected)) = &gpu.images else {
            return Vec::new();
        };
        let pane = gpu.panes.entry(self.pane).or_insert_with(|| PaneGpu {
            buffer: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unlearnable compare pane"),
                size: 48,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            bind_group: None,
        });
        queue.write_buffer(
            &pane.buffer,
            0,
            &self.uniforms.bytes(self.target_format.is_srgb()),
        );
        let key = (*image_id, self.uniforms.nearest);
        if pane.bind_group.as_ref().map(|b| b.0) != Some(key) {
            let sampler = if key.1 { &gpu.nearest } else { &gpu.linear };
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("unlearnable compare pane"),
                layout: &gpu.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: pane.buffer.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(clean),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::TextureView(protected),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: wgpu::BindingResource::Sampler(sampler),
                    },
                ],
            });
            pane.bind_group = Some((key, group));
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(gpu) = resources.get::<CompareGpu>() else {
            return;
        };
        let Some((_, group)) = gpu
            .panes
            .get(&self.pane)
            .and_then(|p| p.bind_group.as_ref())
        else {
            return;
        };
        render_pass.set_pipeline(&gpu.pipeline);
        render_pass.set_bind_group(0, group, &[]);
        render_pass.draw(0..4, 0..1);
    }
}

/// A paint shape for one pane covering `rect`.
pub fn pane_shape(rect: egui::Rect, callback: PaneCallback) -> egui::Shape {
    egui::Shape::Callback(egui_wgpu::Callback::new_paint_callback(rect, callback))
}
