// Compare view: draws one pane of the clean / noise / protected comparison straight from the
// two full-resolution textures, so zoom and pan only change four numbers per frame.
//
// Pixels are 8-bit sRGB-encoded values uploaded as *unorm* (not sRGB) textures: the noise is
// defined on those byte values, so differences are taken in the same space the protection
// budget ε is measured in.

struct Pane {
    uv_min: vec2<f32>,   // texture coordinate at the pane's top-left corner
    uv_max: vec2<f32>,   // texture coordinate at the pane's bottom-right corner
    mode: u32,           // 0 clean, 1 protected, 2 noise (signed, amplified), 3 heat map, 4 split
    nearest: u32,        // 1: show individual pixels (zoomed in past 1:1)
    amplify: f32,        // noise amplification factor
    split: f32,          // split position in pane-local x (0..1), mode 4
    srgb_target: u32,    // 1: the framebuffer re-encodes to sRGB, so output linear values
    lod: f32,            // mip level: log2(image pixels per screen pixel), 0 when zoomed in
    _pad1: u32,
    _pad2: u32,
};

@group(0) @binding(0) var<uniform> pane: Pane;
@group(0) @binding(1) var clean_tex: texture_2d<f32>;
@group(0) @binding(2) var protected_tex: texture_2d<f32>;
// Linear, or nearest when zoomed in past 1:1 (`pane.nearest`): chosen on the CPU, because
// GLSL (wgpu's GL backend) cannot sample one texture through two samplers.
@group(0) @binding(3) var image_sampler: sampler;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) local: vec2<f32>,   // 0..1 across the pane
};

// A full-pane quad as a triangle strip; egui sets the viewport to the callback rect.
@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VertexOut {
    let x = f32(i & 1u);
    let y = f32((i >> 1u) & 1u);
    var out: VertexOut;
    out.position = vec4<f32>(x * 2.0 - 1.0, 1.0 - y * 2.0, 0.0, 1.0);
    out.local = vec2<f32>(x, y);
    return out;
}

fn sample_both(uv: vec2<f32>) -> array<vec3<f32>, 2> {
    let c = textureSampleLevel(clean_tex, image_sampler, uv, pane.lod).rgb;
    let p = textureSampleLevel(protected_tex, image_sampler, uv, pane.lod).rgb;
    return array<vec3<f32>, 2>(c, p);
}

// Perceptually ordered colour ramp (black → purple → orange → pale yellow), for the heat map.
fn heat(t: f32) -> vec3<f32> {
    let x = clamp(t, 0.0, 1.0);
    let a = vec3<f32>(0.0, 0.0, 0.02);
    let b = vec3<f32>(0.45, 0.07, 0.50);
    let c = vec3<f32>(0.95, 0.45, 0.10);
    let d = vec3<f32>(0.99, 0.99, 0.75);
    if (x < 0.33) {
        return mix(a, b, x / 0.33);
    } else if (x < 0.66) {
        return mix(b, c, (x - 0.33) / 0.33);
    }
    return mix(c, d, (x - 0.66) / 0.34);
}

fn to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let uv = mix(pane.uv_min, pane.uv_max, in.local);
    let px = sample_both(uv);
    let c = px[0];
    let p = px[1];
    var rgb: vec3<f32>;
    switch pane.mode {
        case 0u: { rgb = c; }
        case 1u: { rgb = p; }
        case 2u: { rgb = clamp(vec3<f32>(0.5) + (p - c) * pane.amplify, vec3<f32>(0.0), vec3<f32>(1.0)); }
        case 3u: {
            let d = abs(p - c);
            rgb = heat(max(d.r, max(d.g, d.b)) * pane.amplify);
        }
        default: {
            rgb = select(p, c, in.local.x < pane.split);
        }
    }
    if (pane.srgb_target == 1u) {
        rgb = to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}
