//! The sample gallery: one CIFAR-10 test image per class (32×32 JPEG, what the models were
//! trained on) and a few larger pictures of other sizes and aspect ratios.
pub struct Sample {
    /// Stable id, used in the URL (`?sample=cat`).
    pub id: &'static str,
    /// Path relative to the page.
    pub file: &'static str,
    /// Short label under the thumbnail.
    pub label: &'static str,
    /// Alt text.
    pub alt: &'static str,
    /// The CIFAR-10 class the picture shows: its true label, highlighted in the class layer's
    /// agreement chart as in the paper's Fig. 3 and checked against each pass's prediction.
    pub class: &'static str,
}

/// The worked example on first load: one every shipped model gets right, and where the second pass
/// visibly sharpens the flagship's prediction (horse: 0.66 → 0.91), so the first screen teaches.
pub const DEFAULT_SAMPLE: &str = "horse";

pub const SAMPLES: &[Sample] = &[
    Sample {
        id: "airplane",
        file: "samples/airplane.jpg",
        label: "airplane",
        alt: "A green propeller plane against a white sky (CIFAR-10 test image, 32×32)",
        class: "airplane",
    },
    Sample {
        id: "automobile",
        file: "samples/automobile.jpg",
        label: "car",
        alt: "A small blue car parked on grass (CIFAR-10 test image, 32×32)",
        class: "automobile",
    },
    Sample {
        id: "bird",
        file: "samples/bird.jpg",
        label: "bird",
        alt: "A bird with an orange breast on a green background (CIFAR-10 test image, 32×32)",
        class: "bird",
    },
    Sample {
        id: "cat",
        file: "samples/cat.jpg",
        label: "cat",
        alt: "An orange cat seen from the side (CIFAR-10 test image, 32×32)",
        class: "cat",
    },
    Sample {
        id: "deer",
        file: "samples/deer.jpg",
        label: "deer",
        alt: "A brown deer standing in a field (CIFAR-10 test image, 32×32)",
        class: "deer",
    },
    Sample {
        id: "dog",
        file: "samples/dog.jpg",
        label: "dog",
        alt: "A brown and white puppy lying down (CIFAR-10 test image, 32×32)",
        class: "dog",
    },
    Sample {
        id: "frog",
        file: "samples/frog.jpg",
        label: "frog",
        alt: "A red-brown frog on leaves (CIFAR-10 test image, 32×32)",
        class: "frog",
    },
    Sample {
        id: "horse",
        file: "samples/horse.jpg",
        label: "horse",
        alt: "A brown horse grazing on a green field (CIFAR-10 test image, 32×32)",
        class: "horse",
    },
    Sample {
        id: "ship",
        file: "samples/ship.jpg",
        label: "ship",
        alt: "A white cruise ship on blue water (CIFAR-10 test image, 32×32)",
        class: "ship",
    },
    Sample {
        id: "truck", file: "samples/truck.jpg", label: "truck", alt: "A red fire truck (CIFAR-10 test image, 32×32)", class: "truck"
    },
    Sample {
        id: "sailboat-photo",
        file: "samples/sailboat-photo.jpg",
        label: "sailboat (wide)",
        alt: "A rendered picture of a sailboat on a calm sea under an evening sky, wider than tall",
        class: "ship",
    },
    Sample {
        id: "airplane-photo",
        file: "samples/airplane-photo.jpg",
        label: "airliner (tall)",
        alt: "A rendered picture of an airliner climbing through a blue sky with clouds, taller than wide",
        class: "airplane",
    },
];

pub fn find(id: &str) -> Option<&'static Sample> {
    SAMPLES.iter().find(|s| s.id == id)
}
