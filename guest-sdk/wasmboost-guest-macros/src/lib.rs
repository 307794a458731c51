//! The `#[task]` attribute of `wasmboost-guest`: turns a plain function into the component's
//! `handle` export. The generated shim only names the parameters and calls into
//! `wasmboost_guest::__private`, where the work lives, so each task compiles little glue.
//!
//! Modules: this file only (signature analysis in [`Signature`], code generation in [`expand`]).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ItemFn, Pat, ReturnType, Type};

/// Turns a function into the task's component export; see `wasmboost_guest::task`.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let msg = "#[task] takes no arguments";
        return syn::Error::new(Span::call_site(), msg)
            .to_compile_error()
            .into();
    }
    let mut func = syn::parse_macro_input!(item as ItemFn);
    match Signature::read(&mut func).map(|sig| expand(&func, &sig)) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// What the shim needs to know about the task function.
struct Signature {
    takes_context: bool,
    params: Vec<Arg>,
    returns_result: bool,
}

/// One argument read from the payload.
struct Arg {
    name: String,
    ty: Type,
    /// `#[default]` gives `Some(None)`, `#[default(expr)]` gives `Some(Some(expr))`.
    default: Option<Option<Expr>>,
}

impl Signature {
    /// Reads the signature and strips the `#[default]` attributes the compiler would reject.
    fn read(func: &mut ItemFn) -> syn::Result<Signature> {
        check_shape(func)?;
        let mut takes_context = false;
        let mut params = Vec::new();
        for (i, input) in func.sig.inputs.iter_mut().enumerate() {
            let FnArg::Typed(pat_ty) = input else {
                return Err(syn::Error::new(input.span(), "a task cannot take `self`"));
            };
            if i == 0 && is_context(&pat_ty.ty) {
                takes_context = true;
                continue;
            }
            let Pat::Ident(ident) = &*pat_ty.pat else {
                let msg = "task parameters must be plain names: they are the payload's keys";
                return Err(syn::Error::new(pat_ty.pat.span(), msg));
            };
            let name = ident.ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
            if name == "extra" {
                let msg = "`extra` carries delivery metadata and cannot be a task parameter";
                return Err(syn::Error::new(ident.span(), msg));
            }
            let default = take_default(&mut pat_ty.attrs)?;
            params.push(Arg {
                name,
                ty: (*pat_ty.ty).clone(),
                default,
            });
        }
        let returns_result = match &func.sig.output {
            ReturnType::Default => false,
            ReturnType::Type(_, ty) => last_segment_is(ty, "Result"),
        };
        Ok(Signature {
            takes_context,
            params,
            returns_result,
        })
    }
}

fn check_shape(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_some() {
        return Err(syn::Error::new(
            sig.span(),
            "a task function cannot be async",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a task function cannot be generic",
        ));
    }
    Ok(())
}

/// `&Context` or `&wasmboost_guest::Context` (any path ending in `Context`).
fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_none() && last_segment_is(&r.elem, "Context"))
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == name),
        _ => false,
    }
}

/// Removes `#[default]` / `#[default(expr)]` from a parameter and returns what it said.
fn take_default(attrs: &mut Vec<syn::Attribute>) -> syn::Result<Option<Option<Expr>>> {
    let Some(pos) = attrs.iter().position(|a| a.path().is_ident("default")) else {
        return Ok(None);
    };
    let attr = attrs.remove(pos);
    match &attr.meta {
        syn::Meta::Path(_) => Ok(Some(None)),
        syn::Meta::List(_) => Ok(Some(Some(attr.parse_args::<Expr>()?))),
        syn::Meta::NameValue(nv) => {
            let msg = "write `#[default]` or `#[default(expr)]`";
            Err(syn::Error::new(nv.span(), msg))
        }
    }
}

/// The type as a reader writes it (`Option<i64>`), for error messages.
fn type_name(ty: &Type) -> String {
    let raw = quote!(#ty).to_string();
    raw.replace(" :: ", "::")
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace("[ ", "[")
        .replace(" ]", "]")
        .replace(" ;", ";")
}

/// The function unchanged (minus `#[default]`), plus the component export calling it.
fn expand(func: &ItemFn, sig: &Signature) -> TokenStream2 {
    let krate = quote!(::wasmboost_guest::__private);
    let name = &func.sig.ident;
    let params = sig.params.iter().map(|arg| {
        let (key, ty) = (&arg.name, type_name(&arg.ty));
        quote!(#krate::Param { name: #key, ty: #ty })
    });
    let vars: Vec<_> = (0..sig.params.len())
        .map(|i| format_ident!("__arg{}", i))
        .collect();
    let reads = sig.params.iter().enumerate().map(|(i, arg)| {
        let (var, ty) = (&vars[i], &arg.ty);
        match &arg.default {
            None => quote!(let #var: #ty = __args.take(#i)?;),
            Some(None) => {
                quote!(let #var: #ty = __args.take_or(#i, ::core::default::Default::default)?;)
            }
            Some(Some(expr)) => quote!(let #var: #ty = __args.take_or(#i, || #expr)?;),
        }
    });
    let ctx = sig.takes_context.then(|| quote!(__ctx,));
    let call = quote!(#name(#ctx #(#vars),*));
    let output = if sig.returns_result {
        quote!(#krate::output_result(#call))
    } else {
        quote!(#krate::output(&#call))
    };
    quote! {
        #func

        #[doc(hidden)]
        const _: () = {
            static __WASMBOOST_PARAMS: &[#krate::Param] = &[#(#params),*];
            struct __WasmboostTask;
            impl #krate::Guest for __WasmboostTask {
                fn handle(
                    ctx: #krate::WitContext,
                    payload: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, #krate::WitTaskError> {
                    #krate::handle(ctx, payload, |__ctx, __payload| {
                        let _ = __ctx;
                        #[allow(unused_mut)]
                        let mut __args = #krate::Args::parse(__payload, __WASMBOOST_PARAMS)?;
                        #(#reads)*
                        #output
                    })
                }
            }
            #krate::export!(__WasmboostTask with_types_in #krate::bindings);
        };
    }
}
