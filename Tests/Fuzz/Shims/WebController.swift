// Stand-in for the one member of SpyglassWeb's `WebController` that `EventView` names (its attachment rows, which
// the view model's initializer leaves empty): the fuzz build compiles EventView.swift without Hummingbird.
enum WebController {
    struct AttachmentRow {}
}
